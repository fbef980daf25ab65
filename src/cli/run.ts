import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ApiError, apiClient } from './api.ts';
import type { Command, CommandContext } from './command.ts';
import { EXIT_TIMED_OUT, UsageError } from './command.ts';
import { API_COMMANDS } from './commands.ts';
import type { Layout } from './format.ts';
import { replayCommand } from './replay.ts';

/** Every `lastgood` command by name. */
export const COMMANDS: Readonly<Record<string, Command>> = { ...API_COMMANDS, replay: replayCommand };

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The CLI's own environment; the server never reads these (see `CLI_KEYS` in src/config/env.ts). */
const envSchema = z.object({
  LASTGOOD_URL: z.url().default('http://127.0.0.1:8080'),
  LASTGOOD_TOKEN: z.string().min(1, 'is empty: unset it or give the operator token').optional(),
  COLUMNS: z.coerce.number().int().positive().optional().catch(undefined),
  NO_COLOR: z.string().optional(),
});

/** Where the CLI reads and writes; the process's own in `main.ts`, captured in tests. */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  /** The terminal's width when stdout is one; else `COLUMNS`, else no limit. */
  columns?: number | undefined;
  /** Whether stdout is a terminal: colour only then, and never under `NO_COLOR`. */
  isTTY?: boolean;
}

/** The package's version, from the package.json two levels up (from src/cli/ in a clone, dist/cli/ when built). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

function help(): string {
  return [
    'lastgood: the operator CLI over the lastgood REST API',
    '',
    'usage: lastgood <command> [flags]',
    '',
    ...Object.values(COMMANDS).map((command) => `  ${command.usage}\n      ${command.summary}`),
    '',
    'global flags:',
    '  --url URL      lastgood base URL (env LASTGOOD_URL, default http://127.0.0.1:8080)',
    '  --token TOKEN  operator token (env LASTGOOD_TOKEN; prefer the env, flags land in shell history)',
    '  --json         print the API answer as JSON',
    '  --version      print the version',
    '',
    'Tables fit the terminal (or COLUMNS); colour only on a terminal, never with NO_COLOR set.',
    '',
    'exit codes: 0 done; 1 the API refused or failed (its LASTGOOD_ERR_ code is printed), a rollback did not',
    `succeed, or the audit chain is broken; 2 wrong usage; ${EXIT_TIMED_OUT} rollback --wait gave up at --timeout.`,
  ].join('\n');
}

/** Runs one CLI invocation and answers its exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`lastgood ${version()}`);
    return 0;
  }
  const command = COMMANDS[name];
  try {
    if (command === undefined) throw new UsageError(`unknown command "${name}"`);
    const { values, positionals } = parseArgs({
      args: [...rest],
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      io.stdout(`usage: lastgood ${command.usage}\n\n${command.summary}`);
      return 0;
    }
    const env = envSchema.safeParse(io.env);
    if (!env.success) {
      const issue = env.error.issues[0];
      throw new UsageError(`${issue?.path.join('.') ?? 'environment'}: ${issue?.message ?? 'invalid'}`);
    }
    const url = (values.url as string | undefined) ?? env.data.LASTGOOD_URL;
    const token = (values.token as string | undefined) ?? env.data.LASTGOOD_TOKEN;
    const layout: Layout = {
      width: io.columns ?? env.data.COLUMNS ?? Number.POSITIVE_INFINITY,
      color: io.isTTY === true && (env.data.NO_COLOR ?? '') === '',
    };
    const context: CommandContext = {
      api() {
        if (token === undefined)
          throw new UsageError('no operator token: set LASTGOOD_TOKEN (or pass --token)');
        return apiClient(url, token);
      },
      out: (text) => io.stdout(text),
      progress: (text) => io.stderr(text),
      print(answer, format) {
        io.stdout(values.json === true ? JSON.stringify(answer, null, 2) : format(answer, layout));
      },
      layout,
      sleep: (ms) => sleep(ms),
      now: () => Date.now(),
      readStdin: () => io.readStdin(),
    };
    return await command.run(context, { values, positionals });
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`lastgood: ${(error as Error).message}\nusage: lastgood ${command?.usage ?? '<command>'}`);
      return 2;
    }
    if (error instanceof ApiError) {
      const status = error.status === 0 ? '' : ` (${error.status})`;
      const details = error.details === undefined ? '' : `\n${JSON.stringify(error.details, null, 2)}`;
      io.stderr(`lastgood: ${error.code}${status}: ${error.message}${details}`);
      return 1;
    }
    io.stderr(`lastgood: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
