import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/config/durations.ts';
import { loadConfig } from '../src/config/env.ts';
import { EXAMPLE_POLICY, testEnv } from './helpers/app.ts';
import { errorOf } from './helpers/errors.ts';

function load(env: Record<string, string>, policy = EXAMPLE_POLICY) {
  return loadConfig(env, () => policy);
}

describe('loadConfig', () => {
  it('applies defaults from the schema', () => {
    const config = load({ LASTGOOD_CONFIG: 'x.yaml' });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './.lastgood',
      enabled: true,
      logLevel: 'info',
    });
    expect(config.webhookTokens).toEqual([]);
    expect(config.shutdownGraceMs).toBe(10_000);
  });

  it('resolves each target policy from defaults and overrides', () => {
    const config = load(testEnv('/tmp/x'));
    expect(config.targets.get('checkout')?.policy).toEqual({
      mode: 'auto',
      errorRateThreshold: 0.01,
      minConfidence: 0.8,
      maxRollbacksPerHour: 3,
      cooldownMs: 30 * 60_000,
      maxAlertAgeMs: 15 * 60_000,
      signal: { kind: 'burn_rate', sloGoal: 0.999 },
    });
    expect(config.targets.get('payments')?.policy.mode).toBe('dry-run');
    expect(config.targets.get('legacy-errors')?.policy.signal).toEqual({ kind: 'error_ratio' });
    expect(config.targets.get('storefront')).toMatchObject({
      kind: 'cloud-deploy',
      pipeline: 'storefront-pipeline',
    });
  });

  it('takes several webhook tokens so one can be rotated', () => {
    expect(load({ LASTGOOD_CONFIG: 'x', LASTGOOD_WEBHOOK_TOKENS: 'a, b ,c' }).webhookTokens).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it("starts where an operator's shell exports the CLI's LASTGOOD_URL and LASTGOOD_TOKEN", () => {
    expect(load({ LASTGOOD_CONFIG: 'x', LASTGOOD_URL: 'http://x', LASTGOOD_TOKEN: 't' }).port).toBe(8080);
  });

  it('is frozen', () => {
    const config = load({ LASTGOOD_CONFIG: 'x' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['a missing LASTGOOD_CONFIG', {}, 'LASTGOOD_CONFIG'],
    ['a misspelt LASTGOOD_ variable', { LASTGOOD_CONFIG: 'x', LASTGOOD_ENABLD: 'false' }, 'LASTGOOD_ENABLD'],
    ['a port out of range', { LASTGOOD_CONFIG: 'x', PORT: '70000' }, 'PORT'],
    ['a bad kill switch value', { LASTGOOD_CONFIG: 'x', LASTGOOD_ENABLED: 'nope' }, 'LASTGOOD_ENABLED'],
    [
      'a plain-text operator token',
      { LASTGOOD_CONFIG: 'x', LASTGOOD_OPERATOR_TOKENS: 'alice:operator:secret' },
      'LASTGOOD_OPERATOR_TOKENS[0]',
    ],
    ['a non-postgres DATABASE_URL', { LASTGOOD_CONFIG: 'x', DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
  ])('refuses %s, naming the key', (_name, env, key) => {
    expect(errorOf(() => load(env))).toContain(key);
  });

  it.each([
    [
      'a bad threshold',
      'targets:\n  a:\n    kind: cloud-run\n    project: p\n    region: r\n    service: s\n    errorRateThreshold: 2\n',
      'targets.a.errorRateThreshold',
    ],
    [
      'a missing region',
      'targets:\n  a:\n    kind: cloud-run\n    project: p\n    service: s\n',
      'targets.a.region',
    ],
    ['an unknown key', 'defaults:\n  cooldwn: 5m\n', 'defaults'],
    ['a bad duration', 'defaults:\n  cooldown: soon\n', 'defaults.cooldown'],
    ['burn_rate without sloGoal', 'defaults:\n  signal: burn_rate\n', 'defaults.sloGoal'],
    ['an unknown kind', 'targets:\n  a:\n    kind: gke\n', 'targets.a.kind'],
    [
      'an upper-case target name',
      'targets:\n  Checkout:\n    kind: cloud-run\n    project: p\n    region: r\n    service: s\n',
      'targets.Checkout',
    ],
  ])('refuses a policy file with %s, naming the path', (_name, policy, path) => {
    expect(errorOf(() => load({ LASTGOOD_CONFIG: 'x' }, policy))).toContain(path);
  });

  it("starts where the emulator's own LASTGOOD_EMULATOR_* variables are set", () => {
    const config = load({
      LASTGOOD_CONFIG: 'x',
      LASTGOOD_EMULATOR_PORT: '8085',
      LASTGOOD_EMULATOR_BIND_HOST: '::',
    });
    expect(config.warnings).toEqual([]);
  });

  it('parses durations', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('ten')).toBeNull();
  });
});

const cloudRun = (name: string, extra = '') =>
  `  ${name}:\n    kind: cloud-run\n    project: p\n    region: r\n    service: s\n${extra}`;
const cloudDeploy = (name: string, region = 'r') =>
  `  ${name}:\n    kind: cloud-deploy\n    project: p\n    region: ${region}\n    pipeline: pl\n    target: prod\n`;

describe('one target per resource', () => {
  it('refuses two targets for one Cloud Run service, naming both and the service', () => {
    const message = errorOf(() =>
      load({ LASTGOOD_CONFIG: 'x' }, `targets:\n${cloudRun('dupa')}${cloudRun('dupb')}`),
    );
    expect(message).toContain('targets.dupb');
    expect(message).toContain('dupa');
    expect(message).toContain('projects/p/locations/r/services/s');
  });

  it('refuses two targets for one Cloud Deploy target, naming both and the target', () => {
    const message = errorOf(() =>
      load({ LASTGOOD_CONFIG: 'x' }, `targets:\n${cloudDeploy('front')}${cloudDeploy('front-again')}`),
    );
    expect(message).toContain('targets.front-again');
    expect(message).toContain('front');
    expect(message).toContain('projects/p/locations/r/deliveryPipelines/pl/targets/prod');
  });

  it('takes the same service or target name in another region', () => {
    const policy = `targets:\n${cloudDeploy('eu', 'europe-west1')}${cloudDeploy('us', 'us-central1')}${cloudRun('run')}`;
    expect([...load({ LASTGOOD_CONFIG: 'x' }, policy).targets.keys()]).toEqual(['eu', 'us', 'run']);
  });
});

describe('worker and Google settings', () => {
  it('defaults to 32 jobs at once, 60 writes a minute and a re-warm every minute', () => {
    const config = load({ LASTGOOD_CONFIG: 'x' });
    expect(config.jobs.concurrency).toBe(32);
    expect(config.google.writeRate).toEqual({ max: 60, windowMs: 60_000 });
    expect(config.google.rewarmMs).toBe(60_000);
  });

  it.each([['0'], ['257'], ['1.5'], ['lots']])('refuses a job concurrency of %s', (value) => {
    expect(errorOf(() => load({ LASTGOOD_CONFIG: 'x', LASTGOOD_JOB_CONCURRENCY: value }))).toContain(
      'LASTGOOD_JOB_CONCURRENCY',
    );
  });

  it('takes a job concurrency and a write rate', () => {
    const config = load({
      LASTGOOD_CONFIG: 'x',
      LASTGOOD_JOB_CONCURRENCY: '64',
      LASTGOOD_GOOGLE_WRITE_RATE: '180/1m',
    });
    expect(config.jobs.concurrency).toBe(64);
    expect(config.google.writeRate).toEqual({ max: 180, windowMs: 60_000 });
  });
});

describe('duration ranges', () => {
  it.each([
    ['a job poll past what a timer can wait', 'LASTGOOD_JOB_POLL', '30d', 'between 10ms and 10m'],
    ['a job poll of nothing, which spins', 'LASTGOOD_JOB_POLL', '0ms', 'between 10ms and 10m'],
    ['a shutdown grace past what a timer can wait', 'LASTGOOD_SHUTDOWN_GRACE', '30d', 'between 1s and 1h'],
    ['a lease of nothing', 'LASTGOOD_JOB_LEASE', '0s', 'between 100ms and 1h'],
    ['a Google deadline of nothing', 'LASTGOOD_GOOGLE_DEADLINE', '0ms', 'between 100ms and 10m'],
    ['an operation poll of nothing', 'LASTGOOD_POLL_INTERVAL', '0ms', 'between 10ms and 1m'],
    ['a rollback timeout of a month', 'LASTGOOD_ROLLBACK_TIMEOUT', '30d', 'between 1s and 1d'],
    ['a token refresh of nothing', 'LASTGOOD_TOKEN_REFRESH', '0s', 'between 10s and 1d'],
    ['a notification timeout of a month', 'LASTGOOD_NOTIFY_TIMEOUT', '30d', 'between 100ms and 5m'],
    ['a retry delay of nothing', 'LASTGOOD_GOOGLE_RETRY_DELAYS', '0ms,10s', 'between 10ms and 10m'],
    ['a rate-limit window of a month', 'LASTGOOD_RATE_LIMIT_INTAKE', '600/30d', 'between 1s and 1d'],
    ['a Google write window of a month', 'LASTGOOD_GOOGLE_WRITE_RATE', '60/30d', 'between 1s and 1d'],
    ['a re-warm past the channel idle timeout', 'LASTGOOD_GOOGLE_REWARM', '30m', 'between 1s and 10m'],
    [
      'a duration too long for a number',
      'LASTGOOD_JOB_LEASE',
      `${'9'.repeat(400)}ms`,
      'between 100ms and 1h',
    ],
  ])('refuses %s, naming the key and the range', (_name, key, value, range) => {
    const message = errorOf(() => load({ LASTGOOD_CONFIG: 'x', [key]: value }));
    expect(message).toContain(key);
    expect(message).toContain(range);
  });

  it.each([
    ['a cooldown past a week', 'cooldown: 30d', 'defaults.cooldown', 'between 1m and 7d'],
    ['an alert age of nothing', 'maxAlertAge: 0s', 'defaults.maxAlertAge', 'between 1m and 1d'],
    [
      'a serving time past a week',
      'minHealthyServing: 30d',
      'defaults.minHealthyServing',
      'between 0ms and 7d',
    ],
    [
      'a verification window of nothing',
      'verificationWindow: 0ms',
      'defaults.verificationWindow',
      'between 100ms and 7d',
    ],
  ])('refuses a policy file with %s, naming the path and the range', (_name, line, path, range) => {
    const message = errorOf(() =>
      load({ LASTGOOD_CONFIG: 'x' }, `defaults:\n  ${line}\ntargets:\n${cloudRun('a')}`),
    );
    expect(message).toContain(path);
    expect(message).toContain(range);
  });

  it('takes the bounds themselves', () => {
    const config = load(
      {
        LASTGOOD_CONFIG: 'x',
        LASTGOOD_JOB_POLL: '10ms',
        LASTGOOD_JOB_LEASE: '1h',
        LASTGOOD_SHUTDOWN_GRACE: '1s',
      },
      `defaults:\n  cooldown: 7d\n  minHealthyServing: 0s\ntargets:\n${cloudRun('a')}`,
    );
    expect(config.jobs).toMatchObject({ pollMs: 10, leaseMs: 3_600_000 });
    expect(config.targets.get('a')?.policy.cooldownMs).toBe(7 * 86_400_000);
  });
});

describe('policy file messages', () => {
  it.each([
    ['malformed YAML', 'targets:\n  a: [1, 2\n  b: 3\n', 'line 3, column 3', 'must be sufficiently indented'],
    [
      'a duplicate key',
      'targets:\n  a:\n    kind: x\n  a:\n    kind: y\n',
      'line 4, column 3',
      'Map keys must be unique',
    ],
    ['a tab as indentation', 'targets:\n\ta: 1\n', 'line 2, column 1', 'Tabs are not allowed'],
  ])('says where and why for %s', (_name, policy, where, why) => {
    const message = errorOf(() => load({ LASTGOOD_CONFIG: 'x' }, policy));
    expect(message).toContain(where);
    expect(message).toContain(why);
  });

  it('refuses an alias bomb, saying so', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    ].join('\n');
    const message = errorOf(() => load({ LASTGOOD_CONFIG: 'x' }, bomb));
    expect(message).toContain('aliases');
    expect(message).toContain('at most 50');
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# targets to come\n'],
    ['defaults and no targets', 'defaults:\n  mode: auto\n'],
    ['an empty targets map', 'targets: {}\n'],
  ])('refuses a policy file with %s: it would protect nothing', (_name, policy) => {
    expect(errorOf(() => load({ LASTGOOD_CONFIG: 'x' }, policy))).toContain('no targets');
  });
});

describe('look-alike environment variables', () => {
  it.each([
    ['a misspelt DATABASE_URL', 'DATABSE_URL', 'DATABASE_URL'],
    ['a lowercase kill switch', 'lastgood_enabled', 'LASTGOOD_ENABLED'],
    ['a lowercase DATABASE_URL', 'database_url', 'DATABASE_URL'],
    ['a dropped letter in the prefix', 'LASTGOD_JOB_POLL', 'LASTGOOD_JOB_POLL'],
    ['a missing underscore', 'LASTGOODENABLED', 'LASTGOOD_ENABLED'],
    ['a misspelt emulator host', 'CLOUD_RUN_EMULATR_HOST', 'CLOUD_RUN_EMULATOR_HOST'],
    ['a lastgood-ish prefix with no near key', 'LastGood-Anything', 'LASTGOOD_'],
  ])('warns about %s, naming it and what it looks like', (_name, key, like) => {
    const config = load({ LASTGOOD_CONFIG: 'x', [key]: 'postgres://secret@db/x' });
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain(key);
    expect(config.warnings[0]).toContain(like);
    // Only the name: the value may be a credential.
    expect(config.warnings[0]).not.toContain('secret');
  });

  it('never warns about ordinary variables, nor about the ones this test runs with', () => {
    const ordinary = [
      'PATH',
      'HOME',
      'HOSTNAME',
      'USER',
      'SHELL',
      'TERM',
      'PWD',
      'OLDPWD',
      'LANG',
      'TMPDIR',
      'TZ',
      'CI',
      'NODE_OPTIONS',
      'NODE_PATH',
      'NODE_EXTRA_CA_CERTS',
      'NODE_COMPILE_CACHE',
      'npm_config_cache',
      'npm_package_name',
      'npm_lifecycle_event',
      'npm_node_execpath',
      'K_SERVICE',
      'K_REVISION',
      'K_CONFIGURATION',
      'GOOGLE_CLOUD_PROJECT',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'PGHOST',
      'PGPORT',
      'PGDATABASE',
      'TEST_DATABASE_URL',
      'REDIS_URL',
      'DATABASE',
      'LOGLEVEL_COLOR',
      'HTTP_PROXY',
      'no_proxy',
      'PUBSUB_EMULATOR_HOST',
      'FIRESTORE_EMULATOR_HOST',
      'DEMO_WEBHOOK_TOKEN',
      'LASTGOOD_URL',
      'LASTGOOD_TOKEN',
    ];
    const env: Record<string, string> = { ...(process.env as Record<string, string>), LASTGOOD_CONFIG: 'x' };
    for (const key of ordinary) env[key] = 'x';
    for (const key of Object.keys(env))
      if (key.startsWith('LASTGOOD_') && key !== 'LASTGOOD_CONFIG') delete env[key];
    delete env.DATABASE_URL;
    delete env.NODE_ENV;
    expect(load(env).warnings).toEqual([]);
  });
});
