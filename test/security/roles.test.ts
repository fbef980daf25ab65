import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/auth/roles.ts';
import type { RouteSpec } from '../../src/http/route.ts';
import { ROUTE_SPECS } from '../../src/http/routes/index.ts';
import {
  ADMIN_TOKEN,
  bearer,
  OPERATOR_TOKEN,
  startTestApp,
  type TestApp,
  VIEWER_TOKEN,
  WRONG_TOKEN,
} from '../helpers/app.ts';

const TOKENS: Record<Role, { token: string; name: string }> = {
  viewer: { token: VIEWER_TOKEN, name: 'vic' },
  operator: { token: OPERATOR_TOKEN, name: 'alice' },
  admin: { token: ADMIN_TOKEN, name: 'root' },
};

/** Path parameters that pass validation, so a call that gets past auth reaches its handler. */
const PARAMS: Record<string, string> = {
  id: 'alt_00000000000000000000000000',
  service: 'checkout',
  name: 'storefront',
};

function urlOf(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, (_match, name: string) => PARAMS[name] ?? 'x');
}

/** Every route that needs an operator token, under every path it is served at: new routes are covered as added. */
const OPERATOR_ROUTES = ROUTE_SPECS.filter((spec) => ROLES.includes(spec.auth as Role)).flatMap((spec) =>
  [spec.path, ...spec.aliases].map((path) => ({
    route: `${spec.method} ${path}`,
    method: spec.method,
    url: urlOf(path),
    needs: spec.auth as Role,
    mutating: spec.method !== 'GET',
  })),
);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    env: { LASTGOOD_RATE_LIMIT_OPERATOR: '100000/1m', LASTGOOD_RATE_LIMIT_ANONYMOUS: '100000/1m' },
  });
});
afterAll(async () => {
  await t.close();
});

function call(method: RouteSpec['method'], url: string, headers: Record<string, string> = {}) {
  return t.app.server.inject({ method, url, headers });
}

describe('role checks on every operator route', () => {
  it('covers the routes it should', () => {
    expect(OPERATOR_ROUTES.map((r) => r.route)).toEqual(
      expect.arrayContaining([
        'GET /rollback/status/:id',
        'POST /rollback/manual/:service',
        'POST /alerts/:id/acknowledge',
      ]),
    );
  });

  describe.each(OPERATOR_ROUTES)('$route (needs $needs)', ({ method, url, needs, mutating }) => {
    it('refuses a call without a token, or with a wrong one, with 401', async () => {
      for (const headers of [
        {},
        bearer(WRONG_TOKEN),
        { authorization: `Basic ${Buffer.from(`u:${OPERATOR_TOKEN}`).toString('base64')}` },
      ]) {
        const response = await call(method, url, headers);
        expect(response.statusCode).toBe(401);
        expect(response.json().code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
      }
    });

    it.each(ROLES)('with a %s token: allowed only at or above the role it needs', async (role) => {
      const response = await call(method, url, bearer(TOKENS[role].token));
      if (ROLES.indexOf(role) < ROLES.indexOf(needs)) {
        expect(response.statusCode).toBe(403);
        expect(response.json()).toMatchObject({ code: 'LASTGOOD_ERR_FORBIDDEN' });
        expect(response.json().message).toContain(TOKENS[role].name);
      } else {
        expect([401, 403]).not.toContain(response.statusCode);
      }
      if (mutating) {
        const audit = t.logs
          .filter((line) => line.includes('"operator call"'))
          .map((line) => JSON.parse(line).audit)
          .filter((entry) => entry.by === TOKENS[role].name);
        expect(audit.at(-1)).toMatchObject({ role, status: response.statusCode });
      }
    });
  });

  it('lets a viewer read status but never roll back', async () => {
    const rollback = await call('POST', '/rollback/manual/checkout', bearer(VIEWER_TOKEN));
    expect(rollback.statusCode).toBe(403);
    const recent = await t.store.listRecent({ since: new Date(0), limit: 50, action: null, cursor: null });
    expect(recent.filter((item) => item.decision.requestedBy === 'vic')).toHaveLength(0);
    expect((await call('GET', '/rollback/recent', bearer(VIEWER_TOKEN))).statusCode).toBe(200);
  });
});
