import { afterEach, describe, expect, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { type LastgoodProcess, postAlert, startLastgood, waitForTerminal } from '../helpers/process.ts';

let lastgood: LastgoodProcess | null = null;
afterEach(async () => {
  await lastgood?.dispose();
  lastgood = null;
});

describe('a real lastgood process whose Google clients find no credentials', () => {
  it('records its rollback as failed, and keeps running', async () => {
    // No *_EMULATOR_HOST, so the clients look for Application Default Credentials; they are pointed at a file that
    // does not exist, so that none are found even on a machine that has some (and nothing reaches Google).
    lastgood = await startLastgood({
      name: 'no-credentials',
      env: { GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/lastgood-test-credentials.json' },
    });
    await lastgood.waitReady(20_000);

    const accepted = await postAlert(lastgood.url, burnRateAlert());
    expect(accepted.status).toBe(202);
    const status = await waitForTerminal(lastgood.url, accepted.body?.decisionId ?? '');
    expect(status.rollback).toMatchObject({ state: 'failed', error: { code: 'GOOGLE_API_ERROR' } });
    expect(status.rollback?.error?.message).toMatch(/lastgood-test-credentials\.json/);

    // Still up: it answers, and takes the next alert.
    const next = await postAlert(lastgood.url, burnRateAlert({ incidentId: 'no-credentials-2' }));
    expect(next.status).toBe(202);
    const exited = await Promise.race([
      lastgood.exited,
      new Promise((resolve) => setTimeout(resolve, 300, null)),
    ]);
    expect(exited).toBeNull();
  });
});
