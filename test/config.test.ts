import { describe, expect, it } from 'vitest';
import { loadConfig, parseDuration } from '../src/config.ts';
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

  it('parses durations', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('ten')).toBeNull();
  });
});
