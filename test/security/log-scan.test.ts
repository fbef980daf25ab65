import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { bearer, sha256Hex, startTestApp, testEnv, useTestApps } from '../helpers/app.ts';
import { findLeaks, registerSecret, secretForms } from '../helpers/log-sink.ts';
import {
  OLD_WEBHOOK_TOKEN,
  OPERATOR_TOKEN,
  TEST_TOKENS,
  WEBHOOK_TOKEN,
  WRONG_TOKEN,
} from '../helpers/tokens.ts';

const start = useTestApps();

/** Every character percent-encoded, as a client may send a token to slip past a match on its plain form. */
function percentEncodeAll(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}

describe('the suite-wide log scan', () => {
  it('finds a token written as is or URL-encoded, and names it by position only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastgood-scan-'));
    try {
      writeFileSync(join(dir, 'a.log'), `{"msg":"ok"}\n{"url":"/x?auth_token=${WEBHOOK_TOKEN}"}\n`);
      writeFileSync(join(dir, 'b.log'), `{"url":"/x?t=${encodeURIComponent('s3cret/+token')}"}\n`);
      writeFileSync(join(dir, 'c.secrets'), `${WEBHOOK_TOKEN}\n`);
      const { leaks } = findLeaks(dir, [WEBHOOK_TOKEN, 's3cret/+token', 'never-used']);
      expect(leaks).toEqual([
        { file: 'a.log', line: 2, secret: 0 },
        { file: 'b.log', line: 1, secret: 1 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds a token written percent-encoded throughout, or in base64', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastgood-scan-'));
    try {
      const lines = [
        `{"url":"/x?auth_token=${percentEncodeAll(WEBHOOK_TOKEN)}"}`,
        `{"url":"/x?auth_token=${percentEncodeAll(WEBHOOK_TOKEN).toLowerCase()}"}`,
        `{"url":"/x/${Buffer.from(WEBHOOK_TOKEN).toString('base64')}"}`,
        `{"url":"/x/${Buffer.from(WEBHOOK_TOKEN).toString('base64url')}"}`,
      ];
      writeFileSync(join(dir, 'a.log'), `${lines.join('\n')}\n`);
      expect(findLeaks(dir, [WEBHOOK_TOKEN]).leaks.map((leak) => leak.line)).toEqual([1, 2, 3, 4]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('receives the log lines of every test app', async () => {
    const marker = `marker-${randomUUID()}`;
    const t = await startTestApp();
    await t.app.server.inject({ method: 'GET', url: `/healthz?${marker}` });
    await t.close();
    const dir = inject('logSinkDir');
    const sinks = readdirSync(dir).filter((name) => name.endsWith('.log'));
    expect(sinks.some((name) => readFileSync(join(dir, name), 'utf8').includes(marker))).toBe(true);
  });

  it('looks for every token the tests configure', () => {
    // What every test app is configured with: webhook tokens as is, operator tokens as SHA-256 hashes.
    const env = testEnv('/unused');
    const webhookTokens = (env.LASTGOOD_WEBHOOK_TOKENS ?? '').split(',');
    const operatorHashes = (env.LASTGOOD_OPERATOR_TOKENS ?? '')
      .split(',')
      .map((entry) => entry.split(':')[2]);
    expect(webhookTokens).toEqual([WEBHOOK_TOKEN, OLD_WEBHOOK_TOKEN]);
    expect(operatorHashes).toHaveLength(3);
    expect(TEST_TOKENS).toEqual(expect.arrayContaining(webhookTokens));
    expect(TEST_TOKENS.map(sha256Hex)).toEqual(expect.arrayContaining(operatorHashes));
    expect(new Set(TEST_TOKENS).size).toBe(TEST_TOKENS.length);
  });
});

describe('a token sent where it should not be, or encoded', () => {
  const webhook = '/webhook/error-budget-alert';
  const base64 = Buffer.from(WEBHOOK_TOKEN).toString('base64');
  const requests: [string, { method: 'GET' | 'POST'; url: string }][] = [
    ['a percent-encoded parameter name', { method: 'POST', url: `${webhook}?auth%5Ftoken=${WEBHOOK_TOKEN}` }],
    [
      'a lower-case percent-encoded name',
      { method: 'POST', url: `${webhook}?auth%5ftoken=${WEBHOOK_TOKEN}` },
    ],
    ['an upper-case name', { method: 'POST', url: `${webhook}?AUTH_TOKEN=${WEBHOOK_TOKEN}` }],
    [
      'a value percent-encoded throughout',
      { method: 'POST', url: `${webhook}?auth_token=${percentEncodeAll(WEBHOOK_TOKEN)}` },
    ],
    [
      'a name encoded throughout',
      { method: 'POST', url: `${webhook}?${percentEncodeAll('auth_token')}=${WEBHOOK_TOKEN}` },
    ],
    ['a second parameter', { method: 'POST', url: `${webhook}?x=1&auth%5Ftoken=${WEBHOOK_TOKEN}` }],
    ['after a semicolon', { method: 'POST', url: `${webhook};auth_token=${WEBHOOK_TOKEN}` }],
    ['a semicolon in the query', { method: 'POST', url: `${webhook}?x=1;auth_token=${WEBHOOK_TOKEN}` }],
    ['the path', { method: 'GET', url: `/nowhere/${WEBHOOK_TOKEN}` }],
    ['the path, in base64', { method: 'GET', url: `/nowhere/${encodeURIComponent(base64)}` }],
    ['the path, percent-encoded', { method: 'GET', url: `/nowhere/${percentEncodeAll(WEBHOOK_TOKEN)}` }],
    ['a path parameter', { method: 'GET', url: `/rollback/status/${WEBHOOK_TOKEN}` }],
    ['the fragment', { method: 'GET', url: `/nowhere#auth_token=${WEBHOOK_TOKEN}` }],
  ];

  it.each(requests)('never reaches the log or the answer when in %s', async (_where, request) => {
    const t = await start();
    const response = await t.app.server.inject({
      ...request,
      headers: request.url.startsWith('/rollback') ? bearer(OPERATOR_TOKEN) : {},
      ...(request.method === 'POST' ? { payload: burnRateAlert() } : {}),
    });
    expect(t.logs.length).toBeGreaterThan(0);
    for (const form of secretForms(WEBHOOK_TOKEN)) {
      expect(response.body).not.toContain(form);
      for (const line of t.logs) expect(line).not.toContain(form);
    }
  });

  it('still authenticates a percent-encoded parameter name, as the query is decoded before it is read', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: `${webhook}?auth%5Ftoken=${WEBHOOK_TOKEN}`,
      payload: burnRateAlert(),
    });
    expect(response.statusCode).toBe(202);
  });
});

describe('the status page', () => {
  it('never logs the pasted token or the session cookie, on any of its routes', async () => {
    const t = await start();
    const inject = t.app.server.inject.bind(t.app.server);
    await inject({ method: 'POST', url: '/ui/api/session', payload: { token: WRONG_TOKEN } });
    await inject({
      method: 'POST',
      url: '/ui/api/session',
      payload: { token: `${OPERATOR_TOKEN}x`.repeat(200) },
    });
    const signedIn = await inject({
      method: 'POST',
      url: '/ui/api/session',
      payload: { token: OPERATOR_TOKEN },
    });
    const sealed = /^lastgood_session=([^;]+)/.exec(String(signedIn.headers['set-cookie']))![1]!;
    registerSecret(sealed);
    const { csrfToken } = signedIn.json() as { csrfToken: string };
    registerSecret(csrfToken);
    const cookie = `lastgood_session=${sealed}`;
    const requests = [
      { method: 'GET' as const, url: '/ui/targets' },
      { method: 'GET' as const, url: `/ui/sign-in?next=/ui/targets&token=${OPERATOR_TOKEN}` },
      { method: 'GET' as const, url: '/ui/assets/app.js' },
      { method: 'GET' as const, url: '/ui/api/session' },
      { method: 'GET' as const, url: '/v1/rollback/recent' },
      { method: 'GET' as const, url: '/ui/decisions/not-an-id' },
      { method: 'POST' as const, url: '/v1/targets/checkout/resume' },
      { method: 'POST' as const, url: '/v1/targets/checkout/resume', csrf: true },
      { method: 'POST' as const, url: '/ui/api/sign-out', csrf: true },
    ];
    for (const { csrf, ...request } of requests) {
      await inject({ ...request, headers: { cookie, ...(csrf ? { 'x-lastgood-csrf': csrfToken } : {}) } });
    }
    // A tampered cookie is refused without being echoed into the log either.
    await inject({ method: 'GET', url: '/v1/targets', headers: { cookie: `${cookie}x` } });
    expect(t.logs.length).toBeGreaterThan(requests.length);
    for (const secret of [OPERATOR_TOKEN, WRONG_TOKEN, sealed, csrfToken]) {
      for (const form of secretForms(secret)) {
        for (const line of t.logs) expect(line).not.toContain(form);
      }
    }
  });
});
