import { describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  bearer,
  fireAlert,
  OPERATOR_TOKEN,
  requestManualRollback,
  type TestApp,
  useTestApps,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import { startExampleEmulator } from '../helpers/emulator.ts';

const start = useTestApps();

function put(app: TestApp, url: string, payload: unknown, token = ADMIN_TOKEN) {
  return app.app.server.inject({ method: 'PUT', url, payload: payload as object, headers: bearer(token) });
}

describe('GET /v1/kill-switch', () => {
  it('shows the environment and policy file defaults while nobody has set anything', async () => {
    const app = await start();
    const response = await app.app.server.inject({
      method: 'GET',
      url: '/v1/kill-switch',
      headers: bearer(VIEWER_TOKEN),
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ enabled: true, source: 'environment', reason: null, changedBy: null });
    expect(body.targets).toContainEqual({
      name: 'payments',
      mode: 'dry-run',
      source: 'policy',
      reason: null,
      changedBy: null,
      changedAt: null,
      blockedBy: null,
    });
  });
});

describe('PUT /v1/kill-switch', () => {
  it('stops every decision, manual ones included, until it is handed back', async () => {
    const app = await start();
    expect(
      (await put(app, '/v1/kill-switch', { enabled: false, reason: 'INC-1' }, OPERATOR_TOKEN)).statusCode,
    ).toBe(403);
    const off = await put(app, '/v1/kill-switch', { enabled: false, reason: 'INC-1 bad deploys' });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({
      enabled: false,
      source: 'api',
      reason: 'INC-1 bad deploys',
      changedBy: 'root',
    });
    expect((await fireAlert(app)).reason).toBe('DISABLED');
    const manual = await requestManualRollback(app, 'checkout');
    expect(manual.statusCode).toBe(409);
    expect(manual.json().details.reason).toBe('DISABLED');

    const back = await put(app, '/v1/kill-switch', { enabled: null, reason: 'INC-1 closed' });
    expect(back.json()).toMatchObject({ enabled: true, source: 'environment', reason: null });
    expect((await fireAlert(app)).reason).toBe('ROLLBACK');
    const [, change] = (await app.store.listAudit(null, 10)).filter((event) => event.type !== 'decision');
    expect(change).toMatchObject({
      type: 'kill_switch_changed',
      actor: 'root',
      severity: 'warning',
      data: { enabled: false, reason: 'INC-1 bad deploys' },
    });
  });

  it('refuses a change without a reason, or with anything else in the body', async () => {
    const app = await start();
    for (const body of [
      { enabled: false },
      { enabled: false, reason: '  ' },
      { enabled: 'no', reason: 'x' },
    ]) {
      expect((await put(app, '/v1/kill-switch', body)).statusCode).toBe(400);
    }
    expect((await put(app, '/v1/kill-switch', { enabled: false, reason: 'x', extra: 1 })).statusCode).toBe(
      400,
    );
  });
});

describe('PUT /v1/targets/:name/mode', () => {
  it("overrides the policy file's mode for one target, until it is handed back", async () => {
    const app = await start();
    const set = await put(app, '/v1/targets/checkout/mode', { mode: 'dry-run', reason: 'watch first' });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ name: 'checkout', mode: 'dry-run', source: 'api', changedBy: 'root' });
    const dryRun = await fireAlert(app);
    expect(dryRun.reason).toBe('DRY_RUN');
    expect((await app.store.getStatus(dryRun.decisionId))?.decision.mode).toBe('dry-run');
    expect(
      (await fireAlert(app, { service: 'legacy-api', target: 'legacy-errors', burnRate: 0.05 })).reason,
    ).toBe('ROLLBACK');
    const back = await put(app, '/v1/targets/checkout/mode', { mode: null, reason: 'looks fine' });
    expect(back.json()).toMatchObject({ mode: 'auto', source: 'policy' });
    expect((await fireAlert(app)).reason).toBe('ROLLBACK');
    const [change] = (await app.store.listAudit(null, 10)).filter((event) => event.type === 'mode_changed');
    expect(change).toMatchObject({
      target: 'checkout',
      actor: 'root',
      data: { mode: null, previous: 'dry-run' },
    });
  });

  it('answers 404 for an unknown target and 400 for an unknown mode', async () => {
    const app = await start();
    expect((await put(app, '/v1/targets/nope/mode', { mode: 'off', reason: 'x' })).statusCode).toBe(404);
    expect((await put(app, '/v1/targets/checkout/mode', { mode: 'sometimes', reason: 'x' })).statusCode).toBe(
      400,
    );
  });
});

describe('the worker', () => {
  it('reads the kill switch set over the API before a queued rollback runs', async () => {
    const deciding = await start();
    const queued = await fireAlert(deciding);
    expect(queued.reason).toBe('ROLLBACK');
    await put(deciding, '/v1/kill-switch', { enabled: false, reason: 'stop everything' });
    await deciding.close({ keepData: true });

    const emulator = await startExampleEmulator({ adminPort: null });
    try {
      const running = await start({ dataDir: deciding.dataDir, emulatorHost: emulator.host });
      const status = await waitForRollback(running.store, queued.decisionId);
      expect(status.rollback).toMatchObject({ state: 'skipped', errorCode: 'KILL_SWITCH' });
      expect(emulator.calls.count('UpdateService')).toBe(0);
    } finally {
      await emulator.stop();
    }
  });
});
