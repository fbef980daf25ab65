import type { ParseArgsOptionsConfig } from 'node:util';
import type { ApiClient } from './api.ts';
import type { Layout } from './format.ts';

/** The exit code of a `rollback --wait` that gave up before the rollback ended (0 done, 1 failed, 2 usage). */
export const EXIT_TIMED_OUT = 3;

/** A mistake in how the CLI was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What a command can do besides compute: call the API, print, wait, read stdin. */
export interface CommandContext {
  /** The REST API client; a UsageError when no token was given. */
  api(): ApiClient;
  out(text: string): void;
  /** A line on stderr, for what happens while a command waits: stdout stays the answer alone. */
  progress(text: string): void;
  /** Prints an API answer: as JSON under `--json` (for scripts and jq), else as `format` lays it out. */
  print<T>(answer: T, format: (answer: T, layout: Layout) => string): void;
  /** The width and colour stdout's output is laid out for. */
  readonly layout: Layout;
  sleep(ms: number): Promise<void>;
  /** Milliseconds since the epoch; injected so waiting can be tested. */
  now(): number;
  readStdin(): Promise<string>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** One `lastgood <command>`; `run` answers the process exit code. */
export interface Command {
  usage: string;
  summary: string;
  /** The command's own flags, beside the global `--url`, `--token` and `--json`. */
  options: ParseArgsOptionsConfig;
  run(context: CommandContext, args: ParsedArgs): Promise<number>;
}
