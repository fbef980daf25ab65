import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/http/session.ts';
import { safeNext, UI_ROOT } from '../../src/http/ui.ts';
import {
  ADMIN_TOKEN,
  bearer,
  ManualClock,
  OPERATOR_TOKEN,
  sha256Hex,
  type TestApp,
  useTestApps,
  VIEWER_TOKEN,
  WRONG_TOKEN,
} from '../helpers/app.ts';
import { registerSecret } from '../helpers/log-sink.ts';

const start = useTestApps();
const SECRET = 'a-session-secret-for-these-tests-0123456789';

/** Signs in over HTTP and answers the cookie header to send back and the CSRF token. */
async function signIn(t: TestApp, token = OPERATOR_TOKEN, remoteAddress?: string) {
  const response = await t.app.server.inject({
    method: 'POST',
    url: '/ui/api/session',
    payload: { token },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
  expect(response.statusCode).toBe(200);
  const setCookie = String(response.headers['set-cookie']);
  const value = /^lastgood_session=([^;]+)/.exec(setCookie)![1]!;
  registerSecret(value);
  return { cookie: `${SESSION_COOKIE}=${value}`, setCookie, csrf: response.json().csrfToken as string };
}

describe('status-page sessions', () => {
  it('sets an HttpOnly, SameSite=Strict cookie that expires with the session, Secure unless on loopback', async () => {
    const t = await start({ env: { LASTGOOD_SESSION_TTL: '2h' } });
    const local = await signIn(t);
    expect(local.setCookie).toMatch(/; Max-Age=7200/);
    expect(local.setCookie).toMatch(/; Path=\//);
    expect(local.setCookie).toMatch(/; HttpOnly/);
    expect(local.setCookie).toMatch(/; SameSite=Strict/);
    expect(local.setCookie).not.toMatch(/; Secure/);
    const remote = await signIn(t, OPERATOR_TOKEN, '10.1.2.3');
    expect(remote.setCookie).toMatch(/; Secure/);
    expect(local.setCookie).not.toContain(OPERATOR_TOKEN);
  });

  it('lets the page read the JSON API with the cookie alone, as the token’s name and role', async () => {
    const t = await start();
    const { cookie } = await signIn(t, VIEWER_TOKEN);
    const session = await t.app.server.inject({ method: 'GET', url: '/ui/api/session', headers: { cookie } });
    expect(session.json()).toMatchObject({ name: 'vic', role: 'viewer' });
    const targets = await t.app.server.inject({ method: 'GET', url: '/v1/targets', headers: { cookie } });
    expect(targets.statusCode).toBe(200);
    expect(targets.json().targets.map((target: { name: string }) => target.name)).toEqual([
      'checkout',
      'payments',
      'legacy-errors',
      'storefront',
    ]);
  });

  it('refuses a change made with the cookie unless it carries the session’s CSRF token', async () => {
    const t = await start();
    const { cookie, csrf } = await signIn(t);
    const resume = (headers: Record<string, string>) =>
      t.app.server.inject({
        method: 'POST',
        url: '/v1/targets/checkout/resume',
        headers: { cookie, ...headers },
      });
    const missing = await resume({});
    expect(missing.statusCode).toBe(403);
    expect(missing.json().code).toBe('LASTGOOD_ERR_FORBIDDEN');
    expect((await resume({ 'x-lastgood-csrf': `${csrf.slice(0, -2)}xx` })).statusCode).toBe(403);
    const other = await signIn(t, ADMIN_TOKEN);
    expect((await resume({ 'x-lastgood-csrf': other.csrf })).statusCode).toBe(403);
    const done = await resume({ 'x-lastgood-csrf': csrf });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ target: 'checkout', resumedBy: 'alice' });
    const audit = t.logs.map((line) => JSON.parse(line)).find((line) => line.message === 'operator call');
    expect(audit.audit).toEqual({ by: 'alice', role: 'operator', operation: 'resumeTarget', status: 200 });
  });

  it('refuses a tampered or foreign cookie, and ends a session once its token is removed or its time is up', async () => {
    const clock = new ManualClock();
    const env = { LASTGOOD_SESSION_SECRET: SECRET, LASTGOOD_SESSION_TTL: '1h' };
    const t = await start({ clock, env });
    const { cookie } = await signIn(t);
    const read = (app: TestApp, header: string) =>
      app.app.server.inject({ method: 'GET', url: '/v1/targets', headers: { cookie: header } });
    expect((await read(t, cookie)).statusCode).toBe(200);
    const flipped = `${cookie.slice(0, -3)}${cookie.endsWith('A') ? 'B' : 'A'}${cookie.slice(-2)}`;
    expect((await read(t, flipped)).statusCode).toBe(401);
    const foreign = await start({ env: { LASTGOOD_SESSION_SECRET: `${SECRET}-other` } });
    expect((await read(foreign, cookie)).statusCode).toBe(401);
    const withoutAlice = await start({
      env: { ...env, LASTGOOD_OPERATOR_TOKENS: `vic:viewer:${sha256Hex(VIEWER_TOKEN)}` },
    });
    expect((await read(withoutAlice, cookie)).statusCode).toBe(401);
    clock.advance(3_600_000);
    expect((await read(t, cookie)).statusCode).toBe(401);
  });

  it('lets a Bearer token win over a cookie, so the API is unchanged', async () => {
    const t = await start();
    const { cookie } = await signIn(t, VIEWER_TOKEN);
    const response = await t.app.server.inject({
      method: 'POST',
      url: '/v1/targets/checkout/resume',
      headers: { cookie, ...bearer(OPERATOR_TOKEN) },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().resumedBy).toBe('alice');
  });

  it('refuses a wrong token at sign-in, counting each guess against the address', async () => {
    const t = await start({ env: { LASTGOOD_RATE_LIMIT_ANONYMOUS: '3/1m' } });
    const guess = () =>
      t.app.server.inject({ method: 'POST', url: '/ui/api/session', payload: { token: WRONG_TOKEN } });
    expect((await guess()).statusCode).toBe(401);
    expect((await guess()).statusCode).toBe(401);
    expect((await guess()).statusCode).toBe(401);
    const limited = await guess();
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['set-cookie']).toBeUndefined();
  });

  it('redirects a page without a session to sign-in, and signs out by clearing the cookie', async () => {
    const t = await start();
    const page = await t.app.server.inject({
      method: 'GET',
      url: '/ui/decisions/dec_01jd5x0000000000000000000a',
    });
    expect(page.statusCode).toBe(302);
    expect(page.headers.location).toBe('/ui/sign-in?next=%2Fui%2Fdecisions%2Fdec_01jd5x0000000000000000000a');
    const { cookie, csrf } = await signIn(t);
    const shell = await t.app.server.inject({ method: 'GET', url: '/ui/targets', headers: { cookie } });
    expect(shell.statusCode).toBe(200);
    expect(shell.headers['content-type']).toContain('text/html');
    const out = await t.app.server.inject({
      method: 'POST',
      url: '/ui/api/sign-out',
      headers: { cookie, 'x-lastgood-csrf': csrf },
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^lastgood_session=; Max-Age=0/);
  });

  it('sends a browser that opens an old JSON status link to the decision’s page; API clients are unchanged', async () => {
    const t = await start();
    const id = 'dec_01jd5x0000000000000000000a';
    const navigate = { 'sec-fetch-mode': 'navigate', accept: 'text/html' };
    for (const url of [`/v1/rollback/status/${id}`, `/rollback/status/${id}`]) {
      const page = await t.app.server.inject({ method: 'GET', url, headers: navigate });
      expect(page.statusCode).toBe(302);
      expect(page.headers.location).toBe(`/ui/decisions/${id}`);
    }
    const client = await t.app.server.inject({ method: 'GET', url: `/v1/rollback/status/${id}` });
    expect(client.statusCode).toBe(401);
    const withToken = await t.app.server.inject({
      method: 'GET',
      url: `/v1/rollback/status/${id}`,
      headers: { ...navigate, ...bearer(VIEWER_TOKEN) },
    });
    expect(withToken.statusCode).toBe(404);
  });

  it('never sends a person anywhere but the status page after sign-in', () => {
    expect(safeNext('/ui/decisions?target=checkout')).toBe('/ui/decisions?target=checkout');
    for (const next of ['//evil.example/ui/', 'https://evil.example', '/v1/audit', '/ui/\\evil', null]) {
      expect(safeNext(next)).toBe('/ui/targets');
    }
  });
});

describe('the status page under its content security policy', () => {
  it('serves its pages with script-src self and no inline script or style', async () => {
    const t = await start();
    const response = await t.app.server.inject({ method: 'GET', url: '/ui/sign-in' });
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("style-src 'self'");
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).toContain("frame-ancestors 'none'");
    // The API keeps its own, stricter policy.
    const api = await t.app.server.inject({ method: 'GET', url: '/healthz' });
    expect(api.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('ships no inline script, inline style or external resource in its files', () => {
    for (const file of readdirSync(UI_ROOT)) {
      const text = readFileSync(join(UI_ROOT, file), 'utf8');
      expect(text, file).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(text, file).not.toMatch(/\sstyle=/);
      expect(text, file).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
      expect(text, file).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    }
  });

  it('serves only its own asset names', async () => {
    const t = await start();
    expect((await t.app.server.inject({ method: 'GET', url: '/ui/assets/app.js' })).statusCode).toBe(200);
    for (const url of ['/ui/assets/app.html', '/ui/assets/..%2Fhttp%2Fui.ts', '/ui/assets/.env']) {
      expect((await t.app.server.inject({ method: 'GET', url })).statusCode).toBe(404);
    }
  });
});
