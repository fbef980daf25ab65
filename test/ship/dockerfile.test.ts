import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildContextFiles } from '../../bench/lib/image.ts';
import { loadConfig } from '../../src/config/env.ts';
import { ROUTE_SPECS } from '../../src/http/routes/index.ts';
import { EXAMPLE_POLICY } from '../helpers/app.ts';

/**
 * No Docker engine runs here, so the image is checked from its recipe: the Dockerfile's instructions, the build
 * context .dockerignore lets through, and lastgood started from exactly the files the image would hold.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions, continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}

const all = instructions(dockerfile);
const argDefaults = Object.fromEntries(
  all
    .filter((instruction) => instruction.keyword === 'ARG' && instruction.args.includes('='))
    .map((instruction) => instruction.args.split('=', 2) as [string, string]),
);
const expand = (text: string) => text.replace(/\$\{(\w+)\}/g, (_, name: string) => argDefaults[name] ?? '');
/** The build stages, each from its FROM to the next. */
const stages = all.reduce<Instruction[][]>((result, instruction) => {
  if (instruction.keyword === 'FROM') result.push([]);
  result.at(-1)?.push(instruction);
  return result;
}, []);
const final = stages.at(-1)!;
const finalOf = (keyword: string) => final.filter((instruction) => instruction.keyword === keyword);

const buildContext = () => buildContextFiles(ROOT);

describe('Dockerfile', () => {
  it('builds in stages on the Node 24 slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages)
      expect(expand(stage[0]!.args)).toMatch(/^node:24-[a-z]+-slim(@sha256:[0-9a-f]{64})?( AS \w+)?$/i);
  });

  it('installs production dependencies only, exactly as locked, and copies them into the final stage', () => {
    const install = all.find(
      (instruction) => instruction.keyword === 'RUN' && /\bnpm ci\b/.test(instruction.args),
    );
    expect(install?.args).toMatch(/npm ci --omit=dev\b/);
    expect(finalOf('COPY').map((instruction) => instruction.args)).toContain(
      '--from=deps /app/node_modules ./node_modules',
    );
    expect(finalOf('RUN').some((instruction) => /npm (ci|install)/.test(instruction.args))).toBe(false);
  });

  it('runs as an unprivileged user', () => {
    const user = finalOf('USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(final.findIndex((instruction) => instruction.keyword === 'USER')).toBeLessThan(
      final.findIndex((instruction) => instruction.keyword === 'CMD'),
    );
  });

  it('warms the compile cache as the runtime user, in a directory that user owns', () => {
    // Node names its cache after the uid that writes it: warmed by root, the runtime user never finds it.
    const warmUp = final.findIndex(
      (instruction) => instruction.keyword === 'RUN' && /\bnode src\/main\.ts\b/.test(instruction.args),
    );
    expect(warmUp).toBeGreaterThan(-1);
    const before = final.slice(0, warmUp);
    const runtimeUser = finalOf('USER').at(-1)?.args;
    expect(before.filter((instruction) => instruction.keyword === 'USER').at(-1)?.args).toBe(runtimeUser);
    const cacheDir = before
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => /\bNODE_COMPILE_CACHE=(\S+)/.exec(instruction.args)?.[1])
      .findLast((dir) => dir !== undefined);
    expect(cacheDir).toBeDefined();
    const owned = before.some(
      (instruction) =>
        instruction.keyword === 'RUN' &&
        new RegExp(`\\bchown ${runtimeUser}:${runtimeUser}\\b[^&]*\\s${cacheDir}(\\s|$)`).test(
          instruction.args,
        ),
    );
    expect(owned, `${cacheDir} chowned to ${runtimeUser} before the warm-up`).toBe(true);
  });

  it('labels the image with its source, revision and version, from build arguments', () => {
    const labels = finalOf('LABEL')
      .map((instruction) => instruction.args)
      .join(' ');
    for (const [label, arg] of [
      ['org.opencontainers.image.source', 'SOURCE'],
      ['org.opencontainers.image.revision', 'REVISION'],
      ['org.opencontainers.image.version', 'VERSION'],
    ]) {
      expect(labels).toContain(`${label}="\${${arg}}"`);
      expect(finalOf('ARG').map((instruction) => instruction.args.split('=')[0])).toContain(arg);
    }
  });

  it('starts src/main.ts with node, no build step, listening on PORT', () => {
    expect(JSON.parse(finalOf('CMD').at(-1)!.args)).toEqual(['node', 'src/main.ts']);
    const env = finalOf('ENV')
      .map((instruction) => instruction.args)
      .join(' ');
    const port = /\bPORT=(\d+)/.exec(env)?.[1];
    expect(finalOf('EXPOSE').map((instruction) => instruction.args)).toEqual([port]);
    // lastgood listens where PORT says (Cloud Run sets its own), never on a port baked into the command.
    expect(loadConfig({ LASTGOOD_CONFIG: 'x', PORT: '9123' }, () => EXAMPLE_POLICY).port).toBe(9123);
  });

  it('checks its health on /healthz, at the port lastgood listens on', () => {
    const check = finalOf('HEALTHCHECK').at(-1)?.args ?? '';
    expect(check).toContain('/healthz');
    expect(check).toContain('process.env.PORT');
    expect(ROUTE_SPECS.some((route) => route.method === 'GET' && route.path === '/healthz')).toBe(true);
  });

  it('bakes in no secrets', () => {
    for (const instruction of all.filter((entry) => entry.keyword === 'ENV' || entry.keyword === 'ARG')) {
      expect(instruction.args).not.toMatch(/TOKEN|SECRET|PASSWORD|DATABASE_URL|KEY/i);
    }
    const context = buildContext();
    expect(context.filter((file) => /(^|\/)\.env|\.tfstate|\.db$|(^|\/)examples\//.test(file))).toEqual([]);
  });
});

describe('the image built from this recipe', () => {
  const imageDir = mkdtempSync(join(tmpdir(), 'lastgood-image-'));
  afterAll(() => rmSync(imageDir, { recursive: true, force: true }));

  it('has every COPY source in the build context', () => {
    const context = buildContext();
    for (const copy of all.filter(
      (instruction) => instruction.keyword === 'COPY' && !instruction.args.startsWith('--from'),
    )) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        expect(
          context.some((file) => file === source || file.startsWith(`${source}/`)),
          source,
        ).toBe(true);
      }
    }
  });

  it('imports only production dependencies from the code it starts', () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const [, spec] of source.matchAll(/(?:^(?:import|export)[^;]*? from |import\()'([^']+)'/gms)) {
        if (spec!.startsWith('.')) visit(resolve(dirname(file), spec!));
        else if (!spec!.startsWith('node:'))
          packages.add(
            spec!
              .split('/')
              .slice(0, spec!.startsWith('@') ? 2 : 1)
              .join('/'),
          );
      }
    };
    visit(join(ROOT, 'src/main.ts'));
    expect([...packages].filter((name) => packageJson.dependencies[name] === undefined)).toEqual([]);
  });

  it('starts from exactly the files the image holds', () => {
    // The context's files as the image lays them out, with the installed dependencies beside them.
    for (const file of buildContext()) cpSync(join(ROOT, file), join(imageDir, file));
    symlinkSync(join(ROOT, 'node_modules'), join(imageDir, 'node_modules'));
    const started = spawnSync(process.execPath, ['src/main.ts'], {
      cwd: imageDir,
      env: { NODE_ENV: 'production', PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    // Every module loaded; it stopped only at the configuration, as it should with none given.
    expect(started.stderr).toContain('LASTGOOD_CONFIG');
    expect(started.status).toBe(78);
  });

  it('runs the CLI the image links as /usr/local/bin/lastgood', () => {
    const link = finalOf('RUN').find((instruction) =>
      /\bln -s \S+ \/usr\/local\/bin\/lastgood$/.test(instruction.args),
    );
    const target = /\bln -s \/app\/(\S+) /.exec(link?.args ?? '')?.[1];
    expect(target).toBe('bin/lastgood.js');
    const version = spawnSync(process.execPath, [target!, '--version'], { cwd: imageDir, encoding: 'utf8' });
    expect(version.stdout).toMatch(/^lastgood \d+\.\d+\.\d+/);
  });
});
