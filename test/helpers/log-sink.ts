import { appendFileSync, closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { threadId } from 'node:worker_threads';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where every test app of this run appends its log lines; scanned for secrets when the run ends. */
    logSinkDir: string;
  }
}

const LOG_SUFFIX = '.log';
const SECRETS_FILE = 'generated.secrets';

let fd: number | null = null;

function sinkFile(): number {
  fd ??= openSync(join(inject('logSinkDir'), `${process.pid}-${threadId}${LOG_SUFFIX}`), 'a');
  return fd;
}

/** Appends log output to this run's sink, where the global teardown scans it for secrets. */
export function recordLogLines(chunk: string): void {
  writeSync(sinkFile(), chunk.endsWith('\n') ? chunk : `${chunk}\n`);
}

/** A stream for `createLogger`: every line goes to `lines` (for the test's own checks) and to the sink. */
export function logSinkStream(lines: string[]): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      const line = String(chunk);
      lines.push(line);
      recordLogLines(line);
      done();
    },
  });
}

/**
 * Adds a credential a test made at run time (a signed OIDC token, a Secret Manager version) to those the
 * teardown looks for.
 */
export function registerSecret(value: string): void {
  appendFileSync(join(inject('logSinkDir'), SECRETS_FILE), `${JSON.stringify(value)}\n`);
}

/** The credentials tests registered during the run. */
export function registeredSecrets(dir: string): string[] {
  try {
    return readFileSync(join(dir, SECRETS_FILE), 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as string);
  } catch {
    return [];
  }
}

export interface Leak {
  file: string;
  line: number;
  /** Which secret, by position in the list scanned for; never the value, so the report does not leak it. */
  secret: number;
}

/**
 * The forms a secret can take in a log line: as is, URL-encoded, percent-encoded throughout (either case), and in
 * base64 or base64url (a token put in a path segment or a header by a client that encodes it).
 */
export function secretForms(secret: string): string[] {
  const bytes = [...Buffer.from(secret, 'utf8')];
  const everyByte = bytes.map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  return [
    ...new Set([
      secret,
      encodeURIComponent(secret),
      everyByte,
      everyByte.toLowerCase(),
      // Without padding: a token inside a longer base64 text ends in other characters.
      Buffer.from(secret).toString('base64').replace(/=+$/, ''),
      Buffer.from(secret).toString('base64url'),
    ]),
  ];
}

/** Every place in `dir`'s log files where a secret appears in any of its `secretForms`. */
export function findLeaks(dir: string, secrets: readonly string[]): { leaks: Leak[]; linesScanned: number } {
  const needles = secrets.map(secretForms);
  const leaks: Leak[] = [];
  let linesScanned = 0;
  for (const file of readdirSync(dir).filter((name) => name.endsWith(LOG_SUFFIX))) {
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .forEach((text, index) => {
        linesScanned++;
        needles.forEach((forms, secret) => {
          if (forms.some((form) => text.includes(form))) leaks.push({ file, line: index + 1, secret });
        });
      });
  }
  return { leaks, linesScanned };
}

/** Closes this process's sink file; for tests that read it back. */
export function flushLogSink(): void {
  if (fd !== null) closeSync(fd);
  fd = null;
}
