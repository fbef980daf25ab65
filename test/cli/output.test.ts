import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.ts';
import { rollBack, runLastgood, useCliApp } from './harness.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const run = promisify(execFile);

let t: TestApp;
let env: Record<string, string>;

useCliApp((app) => {
  ({ t, env } = app);
});

const widest = (text: string) => Math.max(...text.split('\n').map((line) => line.length));

describe('lastgood output', () => {
  it('prints its version', async () => {
    expect(await runLastgood(['--version'])).toEqual({ code: 0, stdout: `lastgood ${VERSION}`, stderr: '' });
  });

  it('blames the variable at fault', async () => {
    const emptyToken = await runLastgood(['recent'], { ...env, LASTGOOD_TOKEN: '' });
    expect(emptyToken.code).toBe(2);
    expect(emptyToken.stderr).toMatch(/^lastgood: LASTGOOD_TOKEN: is empty/);
    expect(emptyToken.stderr).not.toContain('LASTGOOD_URL');
    const badUrl = await runLastgood(['recent'], { ...env, LASTGOOD_URL: 'not a url' });
    expect(badUrl.stderr).toMatch(/^lastgood: LASTGOOD_URL: /);
  });

  it('fits tables to the terminal, cutting long cells with a marker', async () => {
    const accepted = await rollBack(t);
    const wide = await runLastgood(['status', accepted.decisionId], env);
    expect(widest(wide.stdout)).toBeGreaterThan(100);

    const narrow = await runLastgood(['status', accepted.decisionId], env, '', { columns: 80, isTTY: true });
    expect(narrow.code).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI escapes colour adds
    const plain = narrow.stdout.replace(/\u001b\[\d+m/g, '');
    expect(widest(plain)).toBeLessThanOrEqual(80);
    expect(plain).toMatch(/^\S+ \S+Z\s+\d+\s+lkg_selected\s+\{.*…$/m);

    const recent = await runLastgood(['recent'], { ...env, COLUMNS: '80' });
    expect(widest(recent.stdout)).toBeLessThanOrEqual(80);
    expect(recent.stdout.split('\n')[0]).toMatch(/^DECIDED/);
    expect(recent.stdout).toContain('…');
  });

  it('colours only a terminal, and not under NO_COLOR', async () => {
    await rollBack(t);
    const tty = await runLastgood(['recent'], env, '', { columns: 200, isTTY: true });
    expect(tty.stdout).toContain('\u001b[1mDECIDED');
    const noColor = await runLastgood(['recent'], { ...env, NO_COLOR: '1' }, '', {
      columns: 200,
      isTTY: true,
    });
    expect(noColor.stdout).not.toContain('\u001b[');
    const piped = await runLastgood(['recent'], env);
    expect(piped.stdout).not.toContain('\u001b[');
  });
});

describe('the built CLI', () => {
  let dir: string;
  beforeAll(async () => {
    // The layout of an installed package: package.json, dist/ from `npm run build`, and its dependencies.
    dir = mkdtempSync(join(tmpdir(), 'lastgood-cli-build-'));
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    await run(process.execPath, [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      join(dir, 'dist'),
    ]);
  }, 120_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs from the package.json bin as plain JavaScript, without type stripping', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: { lastgood: string };
    };
    const bin = join(dir, manifest.bin.lastgood);
    const node = [process.execPath, '--no-experimental-strip-types', bin];
    const version = await run(node[0]!, [...node.slice(1), '--version']);
    expect(version.stdout).toBe(`lastgood ${VERSION}\n`);

    const accepted = await rollBack(t);
    const listed = await run(node[0]!, [...node.slice(1), 'recent'], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    expect(listed.stdout).toContain(accepted.decisionId);
  });
});
