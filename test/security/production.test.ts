import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_OPERATOR_TOKENS,
  EXAMPLE_SESSION_SECRET,
  EXAMPLE_WEBHOOK_TOKENS,
} from '../../src/auth/token-strength.ts';
import { loadConfig } from '../../src/config/env.ts';
import { EXAMPLE_POLICY, sha256Hex } from '../helpers/app.ts';
import { thrownBy } from '../helpers/errors.ts';
import { OPERATOR_TOKEN, WEBHOOK_TOKEN } from '../helpers/tokens.ts';

/** What a safe production deployment sets. */
const SAFE: Record<string, string> = {
  NODE_ENV: 'production',
  LASTGOOD_CONFIG: '/etc/lastgood/lastgood.yaml',
  LASTGOOD_WEBHOOK_TOKENS: WEBHOOK_TOKEN,
  LASTGOOD_OPERATOR_TOKENS: `alice:operator:${sha256Hex(OPERATOR_TOKEN)}`,
  LASTGOOD_SESSION_SECRET: 'a-session-secret-of-our-own-0123456789abcdef',
};

function load(env: Record<string, string | undefined>) {
  return loadConfig(env, () => EXAMPLE_POLICY);
}

function refusal(env: Record<string, string | undefined>): string {
  const error = thrownBy(() => load(env));
  expect((error as { code?: string }).code).toBe('LASTGOOD_ERR_CONFIG');
  return (error as Error).message;
}

describe('production startup', () => {
  it('starts with a safe configuration', () => {
    expect(load(SAFE).production).toBe(true);
    expect(
      load({
        ...SAFE,
        LASTGOOD_WEBHOOK_TOKENS: undefined,
        LASTGOOD_WEBHOOK_TOKEN_SECRET: 'projects/p/secrets/s',
      }).webhookTokenSecret,
    ).toBe('projects/p/secrets/s');
  });

  it.each([
    [
      'no webhook token',
      { LASTGOOD_WEBHOOK_TOKENS: undefined },
      'no webhook token',
      'LASTGOOD_WEBHOOK_TOKEN_SECRET',
    ],
    [
      'a short webhook token',
      { LASTGOOD_WEBHOOK_TOKENS: `${WEBHOOK_TOKEN},short-token` },
      'LASTGOOD_WEBHOOK_TOKENS[1] is 11 characters',
      'openssl rand',
    ],
    [
      'the example webhook token',
      { LASTGOOD_WEBHOOK_TOKENS: EXAMPLE_WEBHOOK_TOKENS[0] },
      'LASTGOOD_WEBHOOK_TOKENS[0] is the published example token',
      'use a secret of your own',
    ],
    [
      'no operator tokens',
      { LASTGOOD_OPERATOR_TOKENS: undefined },
      'LASTGOOD_OPERATOR_TOKENS is empty',
      'sha256sum',
    ],
    [
      'the example operator token',
      { LASTGOOD_OPERATOR_TOKENS: `bob:admin:${sha256Hex(EXAMPLE_OPERATOR_TOKENS[0]!)}` },
      '"bob" is the hash of the published example token',
      'Fix:',
    ],
    [
      'CORS for any origin',
      { LASTGOOD_CORS_ORIGINS: 'https://ops.example.com,*' },
      'LASTGOOD_CORS_ORIGINS contains "*"',
      'exact',
    ],
    [
      'a misspelt DATABASE_URL, which would fall back to SQLite',
      { DATABSE_URL: 'postgres://db/lastgood' },
      'DATABSE_URL looks like DATABASE_URL',
      'rename it to DATABASE_URL or unset it',
    ],
    [
      'a lowercase kill switch, which would be ignored',
      { lastgood_enabled: 'false' },
      'lastgood_enabled looks like LASTGOOD_ENABLED',
      'rename it to LASTGOOD_ENABLED or unset it',
    ],
    [
      'no session secret for the status page',
      { LASTGOOD_SESSION_SECRET: undefined },
      'LASTGOOD_SESSION_SECRET is not set',
      'openssl rand',
    ],
    [
      'the example session secret',
      { LASTGOOD_SESSION_SECRET: EXAMPLE_SESSION_SECRET },
      'LASTGOOD_SESSION_SECRET is the published example',
      'use a secret of your own',
    ],
    [
      'an emulator',
      { CLOUD_RUN_EMULATOR_HOST: 'localhost:8085' },
      'emulator host is set (cloudRun)',
      'unset CLOUD_RUN_EMULATOR_HOST',
    ],
  ])('refuses %s, naming the problem and the fix', (_name, change, problem, fix) => {
    const message = refusal({ ...SAFE, ...change });
    expect(message).toContain('NODE_ENV=production');
    expect(message).toContain(problem);
    expect(message).toContain(fix);
  });

  it('refuses a session secret shorter than 32 characters, in any environment', () => {
    expect(refusal({ LASTGOOD_CONFIG: 'x', LASTGOOD_SESSION_SECRET: 'short' })).toContain(
      'LASTGOOD_SESSION_SECRET',
    );
  });

  it('keeps a status-page sign-in 12 hours unless told otherwise', () => {
    expect(load({ LASTGOOD_CONFIG: 'x' }).ui).toEqual({ sessionSecret: null, sessionTtlMs: 12 * 3_600_000 });
    expect(load({ LASTGOOD_CONFIG: 'x', LASTGOOD_SESSION_TTL: '30m' }).ui.sessionTtlMs).toBe(1_800_000);
  });

  it('never puts a token value in the refusal', () => {
    const message = refusal({
      ...SAFE,
      LASTGOOD_WEBHOOK_TOKENS: `short-secret,${EXAMPLE_WEBHOOK_TOKENS[0]}`,
    });
    expect(message).not.toContain('short-secret');
    expect(message).not.toContain(EXAMPLE_WEBHOOK_TOKENS[0]);
  });

  it('lists every problem at once', () => {
    const message = refusal({ NODE_ENV: 'production', LASTGOOD_CONFIG: 'x', LASTGOOD_CORS_ORIGINS: '*' });
    expect(message.match(/^ {2}- /gm)).toHaveLength(4);
  });

  it('refuses the published examples/lastgood.env as it stands', () => {
    const example = parseEnv(readFileSync(new URL('../../examples/lastgood.env', import.meta.url), 'utf8'));
    expect(load(example).production).toBe(false);
    const message = refusal({ ...example, NODE_ENV: 'production' });
    expect(message).toContain('LASTGOOD_WEBHOOK_TOKENS[0] is the published example token');
    expect(message).toContain('"alice" is the hash of the published example token');
    expect(message).toContain('LASTGOOD_SESSION_SECRET is the published example');
  });

  it('allows all of it outside production, for laptops and tests', () => {
    expect(() =>
      load({ LASTGOOD_CONFIG: 'x', LASTGOOD_WEBHOOK_TOKENS: 'short', LASTGOOD_CORS_ORIGINS: '*' }),
    ).not.toThrow();
  });
});

describe('security settings', () => {
  it('has defaults: budgets per minute, one proxy hop, 10 s requests, 256 connections an address, tokens refreshed every 5 minutes', () => {
    const config = load({ LASTGOOD_CONFIG: 'x' });
    expect(config.http).toEqual({
      corsOrigins: [],
      rateLimits: {
        intake: { max: 600, windowMs: 60_000 },
        operator: { max: 120, windowMs: 60_000 },
        anonymous: { max: 60, windowMs: 60_000 },
      },
      trustProxyHops: 1,
      requestTimeoutMs: 10_000,
      maxConnectionsPerAddress: 256,
    });
    expect(config.tokenRefreshMs).toBe(300_000);
    expect(config.pubsub).toBeNull();
  });

  it.each([
    ['a budget without a window', { LASTGOOD_RATE_LIMIT_INTAKE: '600' }, 'LASTGOOD_RATE_LIMIT_INTAKE'],
    ['a zero budget', { LASTGOOD_RATE_LIMIT_OPERATOR: '0/1m' }, 'LASTGOOD_RATE_LIMIT_OPERATOR'],
    ['no request timeout', { LASTGOOD_REQUEST_TIMEOUT: '0s' }, 'LASTGOOD_REQUEST_TIMEOUT'],
    ['a request timeout of an hour', { LASTGOOD_REQUEST_TIMEOUT: '1h' }, 'LASTGOOD_REQUEST_TIMEOUT'],
    [
      'a negative connection cap',
      { LASTGOOD_MAX_CONNECTIONS_PER_ADDRESS: '-1' },
      'LASTGOOD_MAX_CONNECTIONS_PER_ADDRESS',
    ],
    [
      'an origin with a path',
      { LASTGOOD_CORS_ORIGINS: 'https://ops.example.com/app' },
      'LASTGOOD_CORS_ORIGINS',
    ],
    [
      'a secret that is not a secret name',
      { LASTGOOD_WEBHOOK_TOKEN_SECRET: 'my-secret' },
      'LASTGOOD_WEBHOOK_TOKEN_SECRET',
    ],
    [
      'both webhook token sources',
      { LASTGOOD_WEBHOOK_TOKENS: WEBHOOK_TOKEN, LASTGOOD_WEBHOOK_TOKEN_SECRET: 'projects/p/secrets/s' },
      'set one',
    ],
    ['a Pub/Sub audience without its service account', { LASTGOOD_PUBSUB_AUDIENCE: 'https://x' }, 'set both'],
    [
      'a service account that is not an email',
      { LASTGOOD_PUBSUB_AUDIENCE: 'https://x', LASTGOOD_PUBSUB_SERVICE_ACCOUNT: 'nope' },
      'LASTGOOD_PUBSUB_SERVICE_ACCOUNT',
    ],
  ])('refuses %s, naming the key', (_name, env, key) => {
    expect(refusal({ LASTGOOD_CONFIG: 'x', ...env })).toContain(key);
  });
});
