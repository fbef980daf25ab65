import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMMANDS } from '../../src/cli/run.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { startExampleEmulator } from '../helpers/emulator.ts';

const RUNBOOKS = new URL('../../runbooks/', import.meta.url);
const PAGES = [
  'rollback-fired.md',
  'rollback-held.md',
  'rollback-failed.md',
  'lastgood-down.md',
  'rotate-webhook-token.md',
  'kill-switch.md',
  'restore-from-audit-log.md',
];
const read = (page: string) => readFileSync(new URL(page, RUNBOOKS), 'utf8');
const pages = PAGES.map((page) => [page, read(page)] as const);
const index = read('README.md');
const openapi = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};

/** The published example tokens the demo setup uses (examples/lastgood.env). */
const EXAMPLE_ENV = Object.fromEntries(
  readFileSync(new URL('../../examples/lastgood.env', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => /^\w+=/.test(line))
    .map((line) => line.split('=', 2) as [string, string]),
);

interface Call {
  method: string;
  path: string;
}

/**
 * Every API call a page names: `GET /path` in prose, and `curl ... "$LASTGOOD_URL/path"` commands (method from `-X`,
 * else POST when a body is sent). Calls to other hosts (the emulator's admin API, gcloud) are not lastgood's.
 */
function namedCalls(text: string): Call[] {
  const calls: Call[] = [];
  for (const [, method, path] of text.matchAll(/\b(GET|POST|PUT|DELETE|PATCH) (\/[^\s`'"?)]*)/g)) {
    calls.push({ method: method!, path: path!.replace(/[.,:;]+$/, '') });
  }
  const commands = text.replace(/\\\n\s*/g, ' ').split('\n');
  for (const command of commands.filter((line) => /\bcurl\b/.test(line) && line.includes('$LASTGOOD_URL/'))) {
    const path = /\$LASTGOOD_URL(\/[^\s"'?]*)/.exec(command)![1]!;
    const method = /-X\s+(\w+)/.exec(command)?.[1] ?? (/\s(-d|--data\S*)\s/.test(command) ? 'POST' : 'GET');
    calls.push({ method, path });
  }
  return calls;
}

/** Whether openapi.yaml has the call: a `{param}` segment matches any one segment, `:name` and placeholders included. */
function documented({ method, path }: Call): boolean {
  const segments = path.split('/');
  return Object.entries(openapi.paths).some(([template, operations]) => {
    const expected = template.split('/');
    return (
      operations[method.toLowerCase()] !== undefined &&
      expected.length === segments.length &&
      expected.every((segment, i) => /^\{\w+\}$/.test(segment) || segment === segments[i])
    );
  });
}

describe('runbooks', () => {
  it.each(pages)('%s names only routes openapi.yaml has', (_page, text) => {
    const calls = namedCalls(text);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((call) => !documented(call)).map((call) => `${call.method} ${call.path}`)).toEqual(
      [],
    );
  });

  it('has an index naming only routes openapi.yaml has', () => {
    expect(namedCalls(index).filter((call) => !documented(call))).toEqual([]);
  });

  it.each(pages)('%s uses only lastgood commands that exist', (_page, text) => {
    for (const [, command] of text.matchAll(/\bnpx lastgood ([\w-]+)/g))
      expect(COMMANDS).toHaveProperty(command!);
  });

  it.each(pages)('%s says how to try it on the demo setup', (_page, text) => {
    expect(text).toMatch(/^## Try it on the demo setup$/m);
    expect(text).toContain('(README.md#demo-setup)');
  });

  // Whether those links resolve is test/ship/docs-links.test.ts's job.
  it('are all in the index, and the README and docs/operations.md link the index and each page', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    expect(readme).toContain('(runbooks/README.md)');
    expect(operations).toContain('(../runbooks/README.md)');
    for (const page of PAGES) {
      expect(index).toContain(`(${page})`);
      expect(readme).toContain(`(runbooks/${page})`);
      expect(operations).toContain(`(../runbooks/${page})`);
    }
  });
});

describe('the demo setup of runbooks/README.md', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { LASTGOOD_WEBHOOK_TOKENS: EXAMPLE_ENV.LASTGOOD_WEBHOOK_TOKENS! } });
    url = await t.app.server.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('fires, with its `fire` function, an alert lastgood decides to roll back', async () => {
    const fire = /^fire\(\) \{\n[\s\S]*?^\}$/m.exec(index)?.[0];
    expect(fire).toBeDefined();
    // Asynchronously: the app answering the curl runs in this very process.
    const run = async (target: string) => {
      const { stdout } = await promisify(execFile)('bash', ['-c', `${fire}\nfire ${target}`], {
        cwd: new URL('..', RUNBOOKS).pathname,
        env: { PATH: process.env.PATH ?? '', LASTGOOD_URL: url },
        encoding: 'utf8',
        timeout: 10_000,
      });
      return JSON.parse(stdout) as Record<string, unknown>;
    };
    expect(await run('checkout')).toMatchObject({ action: 'rollback', reason: 'ROLLBACK' });
    // A second firing is a new incident, not a redelivery: decided again, and refused by the cooldown.
    expect(await run('checkout')).toMatchObject({ duplicate: false, reason: 'COOLDOWN' });
    expect(await run('storefront')).toMatchObject({ reason: 'ROLLBACK' });
  });
});

describe('runbooks/demo/secret-version.ts', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startExampleEmulator({ adminPort: null, operationDelayMs: 30 });
  });
  afterAll(async () => {
    await emulator.stop();
  });

  it("rotates the emulator's webhook-token secret as rotate-webhook-token.md does", async () => {
    const run = async (args: string[], stdin?: string) => {
      const child = promisify(execFile)(process.execPath, ['runbooks/demo/secret-version.ts', ...args], {
        env: { PATH: process.env.PATH ?? '', SECRET_MANAGER_EMULATOR_HOST: emulator.host },
        encoding: 'utf8',
        timeout: 20_000,
      });
      child.child.stdin?.end(stdin ?? '');
      return (await child).stdout;
    };
    expect(await run(['add'], 'demo-rotated-token-0123456789abcdef012345')).toMatch(/versions\/2$/m);
    await run(['disable', '1']);
    expect(await run(['list'])).toBe('2\tENABLED\n1\tDISABLED\n');
  });
});
