import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { SESSION_COOKIE } from '../../src/http/session.ts';
import { fireAlert, OPERATOR_TOKEN, startTestApp, type TestApp, VIEWER_TOKEN } from '../helpers/app.ts';
import { launchChromium, SCREENSHOT_DIR } from '../helpers/browser.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';
import { registerSecret } from '../helpers/log-sink.ts';

// One emulator, one app and one browser for the whole file: the tests run in order and build on each other's
// state (a rollback fired in one is the decision opened in the next), which keeps the file fast.
let emulator: Emulator;
let t: TestApp;
let chromium: Browser;
let base: string;
let operator: BrowserContext;
let page: Page;
/** The decision the alert of the third test led to. */
let firedDecisionId = '';

useExampleEmulator((started) => {
  emulator = started;
});

beforeAll(async () => {
  t = await startTestApp({
    emulatorHost: emulator.host,
    // The page polls; the tests make more requests a minute than a person would.
    env: { LASTGOOD_RATE_LIMIT_OPERATOR: '2000/1m', LASTGOOD_RATE_LIMIT_ANONYMOUS: '2000/1m' },
  });
  base = await t.app.server.listen({ host: '127.0.0.1', port: 0 });
  chromium = await launchChromium();
  operator = await chromium.newContext({ viewport: { width: 1280, height: 900 } });
  page = await operator.newPage();
  page.setDefaultTimeout(15_000);
});

afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function screenshot(target: Page, name: string): Promise<void> {
  await target.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Signs in on the sign-in page the browser is at, and waits to land on `landing`. */
async function signIn(target: Page, token: string, landing: RegExp): Promise<void> {
  await target.getByLabel('Operator token').fill(token);
  await target.getByRole('button', { name: 'Sign in' }).click();
  await target.waitForURL(landing);
}

/** The session cookie's value, registered so the run's log scan looks for it too. */
async function sessionCookie(context: BrowserContext) {
  const cookie = (await context.cookies()).find((each) => each.name === SESSION_COOKIE);
  if (cookie === undefined) throw new Error('no session cookie');
  registerSecret(cookie.value);
  return cookie;
}

function targetRow(target: Page, name: string) {
  return target.locator('tbody tr', { has: target.getByText(name, { exact: true }) });
}

describe('the status page', () => {
  it('redirects a browser without a session to sign-in, where no 401 body is shown', async () => {
    const response = await fetch(`${base}/ui/decisions?target=checkout`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(
      `/ui/sign-in?next=${encodeURIComponent('/ui/decisions?target=checkout')}`,
    );
    await page.goto(`${base}/ui/targets`);
    await page.waitForURL(/\/ui\/sign-in\?next=%2Fui%2Ftargets$/);
    await expect(page.getByRole('heading', { name: 'lastgood' }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'sign-in');
    // The Bearer API is unchanged: without credentials it still answers 401 JSON.
    const api = await fetch(`${base}/v1/targets`);
    expect(api.status).toBe(401);
    expect((await api.json()).code).toBe('LASTGOOD_ERR_UNAUTHORIZED');
  });

  it('signs in with a pasted token into an HttpOnly, SameSite=Strict cookie, and lists every target', async () => {
    await signIn(page, OPERATOR_TOKEN, /\/ui\/targets$/);
    const cookie = await sessionCookie(operator);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
    expect(cookie.expires * 1000 - Date.now()).toBeGreaterThan(11.9 * 3_600_000);
    expect(cookie.expires * 1000 - Date.now()).toBeLessThan(12.1 * 3_600_000);
    expect(cookie.value).not.toContain(OPERATOR_TOKEN);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }))).toBe('{}');
    expect(page.url()).not.toContain(OPERATOR_TOKEN);

    await targetRow(page, 'storefront').waitFor();
    for (const [name, kind] of [
      ['checkout', 'cloud-run'],
      ['payments', 'cloud-run'],
      ['legacy-errors', 'cloud-run'],
      ['storefront', 'cloud-deploy'],
    ]) {
      const row = targetRow(page, name!);
      await expect(row.textContent()).resolves.toContain(kind);
      await expect(row.textContent()).resolves.toContain('healthy');
    }
    await expect(targetRow(page, 'payments').textContent()).resolves.toContain('dry-run');
    await expect(page.locator('#who').textContent()).resolves.toBe('alice · operator');
    await screenshot(page, 'targets');
  });

  it('shows a fired alert’s decision appear and its rollback reach succeeded without a reload', async () => {
    await page.getByRole('link', { name: 'Decisions' }).click();
    await page.waitForURL(/\/ui\/decisions$/);
    await page.getByText('No decisions match.').waitFor();
    // Set on this document: a reload would make a new one without it.
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));

    const accepted = await fireAlert(t, { startedAt: new Date() });
    expect(accepted.action).toBe('rollback');
    firedDecisionId = accepted.decisionId;
    const row = page.locator('tbody tr', { has: page.getByText('checkout', { exact: true }) });
    await row.waitFor({ timeout: 10_000 });
    await row.getByText('succeeded').waitFor({ timeout: 15_000 });
    await expect(row.textContent()).resolves.toContain('ROLLBACK');
    expect(await page.evaluate(() => (window as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await screenshot(page, 'decisions');
  });

  it('opens the decision’s detail with its timeline, Google calls, notifications and audit entries', async () => {
    await page.locator('tbody tr a').first().click();
    await page.waitForURL(/\/ui\/decisions\/dec_[0-9a-z]{26}$/);
    const timeline = page.locator('ol.timeline');
    await timeline.locator('[data-step="succeeded"]').waitFor();
    const steps = await timeline
      .locator('li')
      .evaluateAll((items) => items.map((item) => item.getAttribute('data-step')));
    expect(steps.at(-1)).toBe('succeeded');
    expect(steps.length).toBeGreaterThan(2);
    await expect(page.getByRole('region', { name: 'Google calls' }).textContent()).resolves.toContain(
      'UpdateService',
    );
    await expect(page.getByRole('region', { name: 'Audit entries' }).textContent()).resolves.toContain(
      'rollback_succeeded',
    );
    await expect(
      page.getByRole('region', { name: 'Factors' }).locator('tbody tr').count(),
    ).resolves.toBeGreaterThan(0);
    const time = page.locator('time').first();
    await expect(time.getAttribute('title')).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await screenshot(page, 'decision');
  });

  it('shows the judgement’s verdict and a chart of each revision’s error ratio, with deploy, onset and rollback', async () => {
    await page.goto(`${base}/ui/decisions/${firedDecisionId}`);
    const judgement = page.getByRole('region', { name: 'Judgement' });
    await judgement.waitFor();
    // What the rollback job judged, as the status API gives it to the page.
    const status = await page.evaluate(
      async (id) => (await fetch(`/v1/rollback/status/${id}`)).json(),
      firedDecisionId,
    );
    expect(status.judgement).toMatchObject({ verdict: 'rollback', reason: 'ROLLBACK' });
    await expect(judgement.textContent()).resolves.toContain('ROLLBACK');
    const chart = judgement.locator('svg[role="img"]');
    const revisions = Object.keys(status.judgement.series ?? {});
    expect(revisions.length).toBeGreaterThan(0);
    await expect(chart.locator('polyline').count()).resolves.toBe(revisions.length);
    await expect(chart.getAttribute('aria-label')).resolves.toContain(revisions[0]);
    const marks = await chart
      .locator('g.mark')
      .evaluateAll((groups) => groups.map((g) => g.getAttribute('class')));
    expect(marks).toContain('mark mark-rollback');
    if (status.judgement.summary.onset !== null) expect(marks).toContain('mark mark-onset');
    await expect(judgement.getByRole('heading', { name: 'Windows measured' }).count()).resolves.toBe(
      status.judgement.summary.windows.length > 0 ? 1 : 0,
    );
    await screenshot(page, 'decision-judged');
    // The README's picture (docs/images/status-page.png is a copy): the decision down to its judgement.
    await page.screenshot({
      path: join(SCREENSHOT_DIR, 'status-page.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: 1560 },
    });
  });

  it('lets an operator roll back by hand and, once that fails, resume the target, confirming each', async () => {
    emulator.faults.inject({
      kind: 'fail-next-operation',
      method: 'UpdateService',
      message: 'quota exceeded',
    });
    await page.getByRole('link', { name: 'Targets' }).click();
    const dialog = page.getByRole('dialog');
    await targetRow(page, 'checkout').getByRole('button', { name: 'Roll back…' }).click();
    await expect(dialog.textContent()).resolves.toContain(
      'Roll checkout (service checkout) back now, to its last known good revision.',
    );
    await dialog.getByRole('button', { name: 'Roll back checkout' }).click();
    await page.getByText(/Rollback of checkout queued/).waitFor();
    const checkout = targetRow(page, 'checkout');
    await checkout.getByText('waiting for a person').waitFor({ timeout: 15_000 });
    await checkout.getByRole('button', { name: 'Resume' }).click();
    await expect(dialog.textContent()).resolves.toContain('checkout');
    await expect(dialog.textContent()).resolves.toContain('the rollback failed');
    await dialog.getByRole('button', { name: 'Resume checkout' }).click();
    await page.getByText(/Resumed checkout; cleared 1 block/).waitFor();
    await checkout.getByText('healthy').waitFor();
    expect((await t.store.controlOverview()).blocks.has('checkout')).toBe(false);
    const resumed = (await t.store.listAudit(null, 20)).find((event) => event.type === 'target_resumed');
    expect(resumed).toMatchObject({ target: 'checkout', actor: 'alice' });
  });

  it('lets an operator roll a pipeline back by hand, see it frozen, and unfreeze it', async () => {
    const storefront = targetRow(page, 'storefront');
    await storefront.getByRole('button', { name: 'Roll back…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Release (optional)').fill('rel-001');
    await expect(dialog.textContent()).resolves.toContain(
      'Roll storefront (pipeline storefront-pipeline) back now, to release rel-001',
    );
    await dialog.getByRole('button', { name: 'Roll back storefront' }).click();
    await page.getByText(/Rollback of storefront queued/).waitFor();
    await storefront.getByText('frozen').waitFor({ timeout: 15_000 });
    const pipeline = 'projects/demo-project/locations/us-central1/deliveryPipelines/storefront-pipeline';
    expect(emulator.state.cloudDeploy.pipeline(pipeline)?.suspended).toBe(true);

    // From the keyboard: focus the button, Enter opens the confirmation, Escape leaves it unchanged.
    await storefront.getByRole('button', { name: 'Unfreeze pipeline' }).focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(emulator.state.cloudDeploy.pipeline(pipeline)?.suspended).toBe(true);
    await storefront.getByRole('button', { name: 'Unfreeze pipeline' }).focus();
    await page.keyboard.press('Enter');
    await expect(dialog.textContent()).resolves.toContain('rel-002');
    await dialog.getByRole('button', { name: 'Unfreeze storefront-pipeline' }).click();
    // Waits for the outcome either way, so that a failure shows the page's own reason.
    const outcome = page.locator('.notice').filter({ hasText: /^(Unfroze|Unfreeze pipeline failed)/ });
    await outcome.waitFor();
    await expect(outcome.textContent()).resolves.toBe('Unfroze storefront-pipeline of storefront.');
    await storefront.getByText('healthy').waitFor();
    expect(emulator.state.cloudDeploy.pipeline(pipeline)?.suspended).toBe(false);
    const unfrozen = (await t.store.listAudit(null, 20)).find(
      (event) => event.data.step === 'pipeline_unfrozen',
    );
    expect(unfrozen).toMatchObject({ target: 'storefront', actor: 'alice' });
    await screenshot(page, 'targets-after-actions');
  });

  it('shows the audit chain verifying and the latest entries', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByText('chain verifies').waitFor();
    await page.locator('tbody').getByText('pipeline_unfrozen').waitFor();
    await screenshot(page, 'audit');
  });

  it('refuses a change made with the cookie but without the CSRF token (403)', async () => {
    const status = await page.evaluate(() =>
      fetch('/v1/targets/checkout/resume', { method: 'POST', credentials: 'same-origin' }).then(
        (r) => r.status,
      ),
    );
    expect(status).toBe(403);
  });

  it('reads at phone width', async () => {
    const phone = await operator.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${base}/ui/targets`);
    await targetRow(phone, 'checkout').waitFor();
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(phone, 'targets-phone');
    await phone.close();
  });

  it('shows a viewer no action buttons, and refuses a POST from a viewer’s session even with its CSRF token', async () => {
    const context = await chromium.newContext({ viewport: { width: 1280, height: 900 } });
    const viewer = await context.newPage();
    await viewer.goto(`${base}/ui/targets`);
    await signIn(viewer, VIEWER_TOKEN, /\/ui\/targets$/);
    await sessionCookie(context);
    await targetRow(viewer, 'storefront').waitFor();
    await expect(viewer.locator('button.action').count()).resolves.toBe(0);
    await viewer.locator('a[href^="/ui/decisions/dec_"]').first().click();
    await viewer.locator('ol.timeline').waitFor();
    await expect(viewer.getByRole('button', { name: 'Acknowledge' }).count()).resolves.toBe(0);
    const forged = await viewer.evaluate(async () => {
      const { csrfToken } = await (await fetch('/ui/api/session')).json();
      const response = await fetch('/v1/targets/checkout/resume', {
        method: 'POST',
        headers: { 'x-lastgood-csrf': csrfToken },
      });
      return { status: response.status, body: await response.json() };
    });
    expect(forged).toMatchObject({ status: 403, body: { code: 'LASTGOOD_ERR_FORBIDDEN' } });
    await context.close();
  });

  it('lets an operator acknowledge an alert a viewer can only read', async () => {
    const accepted = await fireAlert(t, {
      service: 'payments',
      startedAt: new Date(),
      incidentId: 'inc-ack',
    });
    const url = `${base}/ui/decisions/${accepted.decisionId}`;
    const context = await chromium.newContext();
    const viewer = await context.newPage();
    await viewer.goto(url);
    await signIn(viewer, VIEWER_TOKEN, new RegExp(`/ui/decisions/${accepted.decisionId}$`));
    await viewer.getByText('inc-ack', { exact: true }).first().waitFor();
    await expect(viewer.getByRole('button', { name: 'Acknowledge' }).count()).resolves.toBe(0);
    await context.close();

    await page.goto(url);
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.textContent()).resolves.toContain('Mark incident inc-ack on payments as seen by you');
    await dialog.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByText('Acknowledged by alice.').waitFor();
    const status = await t.store.getStatus(accepted.decisionId);
    expect(status?.alert).toMatchObject({ acknowledgedBy: 'alice' });
  });

  it('signs out, after which the pages redirect to sign-in again', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/ui\/sign-in$/);
    expect((await operator.cookies()).find((each) => each.name === SESSION_COOKIE)).toBeUndefined();
    await page.goto(`${base}/ui/audit`);
    await page.waitForURL(/\/ui\/sign-in\?next=%2Fui%2Faudit$/);
  });

  it('never logs a token or the session cookie', async () => {
    const cookies = t.logs.join('\n');
    for (const token of [OPERATOR_TOKEN, VIEWER_TOKEN]) expect(cookies).not.toContain(token);
    expect(cookies).not.toContain(SESSION_COOKIE);
  });
});
