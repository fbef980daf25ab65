import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import {
  bearer,
  fireAlert,
  OPERATOR_TOKEN,
  type TestApp,
  VIEWER_TOKEN,
  waitForRollback,
} from '../helpers/app.ts';
import {
  DEPENDENCY_OUTAGE_FIXTURE_PATH,
  useAppOnExampleEmulator,
  useAppOnFixtureEmulator,
} from '../helpers/emulator.ts';

let t: TestApp;

async function judgementOf(decisionId: string) {
  await waitForRollback(t.store, decisionId);
  const response = await t.app.server.inject({
    method: 'GET',
    url: `/rollback/status/${decisionId}`,
    headers: bearer(VIEWER_TOKEN),
  });
  expect(response.statusCode).toBe(200);
  return response.json().judgement;
}

describe('GET /rollback/status/:id carries the judgement of a rollback through the emulator', () => {
  useAppOnExampleEmulator((_emulator, app) => {
    t = app;
  });

  it('shows the verdict, the suspect against its baseline and the per-minute series behind a rollback', async () => {
    const accepted = await fireAlert(t);
    const judgement = await judgementOf(accepted.decisionId);
    expect(judgement).toMatchObject({
      verdict: 'rollback',
      reason: 'ROLLBACK',
      summary: {
        suspect: 'checkout-00002-xyz',
        baseline: 'checkout-00001-abc',
        telemetry: { status: 'ok', message: null },
        change: { source: 'monitoring' },
      },
    });
    expect(judgement.factors.map((factor: { name: string }) => factor.name)).toContain('suspect');
    const suspect = judgement.summary.windows.find((window: { role: string }) => window.role === 'suspect');
    const baseline = judgement.summary.windows.find((window: { role: string }) => window.role === 'baseline');
    expect(suspect.requests).toBeGreaterThan(0);
    expect(suspect.ratio).toBeGreaterThan(baseline.ratio);
    // The compact series a page charts: [minuteStart, requests, errors] per revision, oldest first.
    const minutes = judgement.series['checkout-00002-xyz'] as [string, number, number][];
    expect(minutes.length).toBeGreaterThan(1);
    const [at, total, errors] = minutes.at(-1)!;
    expect(Number.isNaN(Date.parse(at))).toBe(false);
    expect(total).toBeGreaterThanOrEqual(errors);
    expect(minutes.map(([minute]) => minute)).toEqual(minutes.map(([minute]) => minute).sort());
    expect(Date.parse(judgement.summary.change.at)).toBeLessThan(Date.parse(judgement.summary.startedAt));
  });

  it('is null for a manual rollback, which skips the judgement', async () => {
    const response = await t.app.server.inject({
      method: 'POST',
      url: '/rollback/manual/checkout',
      headers: bearer(OPERATOR_TOKEN),
    });
    expect(response.statusCode).toBe(202);
    expect(await judgementOf(response.json().decisionId)).toBeNull();
  });
});

describe('GET /rollback/status/:id carries the evidence of a hold', () => {
  let outage: Emulator;
  useAppOnFixtureEmulator(DEPENDENCY_OUTAGE_FIXTURE_PATH, (started, app) => {
    outage = started;
    t = app;
  });

  it('shows why lastgood held: an old revision, errors that began long after it, on both revisions', async () => {
    const accepted = await fireAlert(t);
    const judgement = await judgementOf(accepted.decisionId);
    expect(judgement.verdict).toBe('hold');
    expect(judgement.reason).toBe('NO_RECENT_CHANGE');
    expect(judgement.summary.suspect).toBe('checkout-00002-xyz');
    expect(Date.parse(judgement.summary.onset)).toBeGreaterThan(Date.parse(judgement.summary.change.at));
    expect(Object.keys(judgement.series).sort()).toEqual(['checkout-00001-abc', 'checkout-00002-xyz']);
    expect(outage.calls.count('UpdateService')).toBe(0);
  });
});
