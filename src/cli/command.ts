import type { ParseArgsOptionsConfig } from 'node:util';
import type { ApiClient } from './api.ts';

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
  /** Prints an API answer: as JSON under `--json` (for scripts and jq), else as `format` lays it out. */
  print<T>(answer: T, format: (answer: T) => string): void;
  sleep(ms: number): Promise<void>;
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
