import { type CliIo, runCli } from '../../src/cli/run.ts';
import { OPERATOR_TOKEN, type TestApp } from '../helpers/app.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What the CLI is told about its stdout when it is a terminal. */
export type Terminal = Pick<CliIo, 'columns' | 'isTTY'>;

/** Runs `lastgood <argv>` in this process with the given environment (no operator token unless given). */
export async function runLastgood(
  argv: readonly string[],
  env: Record<string, string> = {},
  stdin = '',
  terminal: Terminal = {},
): Promise<CliResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli(argv, {
    env,
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    readStdin: async () => stdin,
    ...terminal,
  });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

/** Starts the app's real listener on a free port and answers the env the CLI needs to reach it as an operator. */
export async function listen(t: TestApp, token: string = OPERATOR_TOKEN): Promise<Record<string, string>> {
  const address = await t.app.server.listen({ port: 0, host: '127.0.0.1' });
  return { LASTGOOD_URL: address, LASTGOOD_TOKEN: token };
}
