import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DOCS_CSP } from '../../src/http/routes/docs.ts';
import { bearer, useTestApps, VIEWER_TOKEN } from '../helpers/app.ts';

const start = useTestApps();
const OPENAPI = readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8');
const CHROMIUM = '/usr/bin/chromium';

describe('GET /openapi.yaml', () => {
  it('serves the checked-in document to a viewer, and to nobody without a token', async () => {
    const t = await start();
    const served = await t.app.server.inject({
      method: 'GET',
      url: '/openapi.yaml',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toBe('application/yaml; charset=utf-8');
    expect(served.body).toBe(OPENAPI);
    const json = await t.app.server.inject({
      method: 'GET',
      url: '/openapi.json',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(json.json()).toEqual(parse(OPENAPI));
    for (const url of ['/openapi.yaml', '/openapi.json']) {
      const anonymous = await t.app.server.inject({ method: 'GET', url });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json().code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
    }
  });
});

describe('GET /docs', () => {
  it('serves the page and its own assets under a CSP that allows only them', async () => {
    const t = await start();
    const page = await t.app.server.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.sort()).toEqual(['/docs/docs.css', '/docs/docs.js']);
    for (const [url, type] of [
      ['/docs/docs.js', 'text/javascript; charset=utf-8'],
      ['/docs/docs.css', 'text/css; charset=utf-8'],
    ] as const) {
      const asset = await t.app.server.inject({ method: 'GET', url });
      expect(asset.statusCode, url).toBe(200);
      expect(asset.headers['content-type']).toBe(type);
      expect(asset.body.length).toBeGreaterThan(100);
    }
    // The API's own answers keep the API policy: nothing may run in them.
    const health = await t.app.server.inject({ method: 'GET', url: '/healthz' });
    expect(health.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'renders every operation in a real browser, with no CSP violation',
    async () => {
      const t = await start();
      const base = await t.app.server.listen({ port: 0, host: '127.0.0.1' });
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error') problems.push(message.text());
        });
        page.on('pageerror', (error) => problems.push(error.message));
        page.on('requestfailed', (request) => problems.push(`${request.url()} failed`));
        const answer = await page.goto(`${base}/docs`);
        expect(answer?.status()).toBe(200);
        await page.fill('#token', VIEWER_TOKEN);
        await page.click('button[type=submit]');
        await page.waitForSelector('#getRollbackStatus');
        const operations = await page.$$eval('section.operation', (sections) => sections.length);
        const document = parse(OPENAPI) as { paths: Record<string, Record<string, unknown>> };
        expect(operations).toBe(
          Object.values(document.paths).flatMap((methods) => Object.keys(methods)).length,
        );
        expect(await page.textContent('#getRollbackStatus h3')).toBe('GET/rollback/status/{id}');
        expect(await page.$eval('body', (body) => getComputedStyle(body).maxWidth)).toBe('960px');
        expect(problems).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
