import { beforeEach } from 'vitest';
import { type CliIo, runCli } from '../../src/cli/run.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import {
  type AlertAccepted,
  fireAlert,
  OPERATOR_TOKEN,
  type TestApp,
  waitForRollback,
} from '../helpers/app.ts';
import { useAppOnExampleEmulator } from '../helpers/emulator.ts';

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

/** Fires the fast-burn alert at the app and waits for the rollback it decides to end. */
export async function rollBack(t: TestApp): Promise<AlertAccepted> {
  const accepted = await fireAlert(t, { burnRate: 18.2 });
  await waitForRollback(t.store, accepted.decisionId);
  return accepted;
}

/** What a CLI test runs against: the example emulator, a lastgood on it, and the env that reaches it as an operator. */
export interface CliApp {
  emulator: Emulator;
  t: TestApp;
  env: Record<string, string>;
}

/** One example emulator for the file and, for each test, a fresh lastgood listening on a free port; `use` gets both. */
export function useCliApp(use: (app: CliApp) => void): void {
  let emulator: Emulator;
  let t: TestApp;
  useAppOnExampleEmulator((started, app) => {
    emulator = started;
    t = app;
  });
  // Runs after useAppOnExampleEmulator's beforeEach, which started `t`.
  beforeEach(async () => {
    use({ emulator, t, env: await listen(t) });
  });
}
