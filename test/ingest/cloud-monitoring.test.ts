import { describe, expect, it } from 'vitest';
import { isLastgoodError } from '../../src/errors.ts';
import { parseCloudMonitoring } from '../../src/ingest/cloud-monitoring.ts';
import { burnRateAlert, testNotification } from '../fixtures/alerts.ts';

describe('parseCloudMonitoring', () => {
  it('normalises an SLO burn-rate alert', () => {
    const startedAt = new Date('2026-11-23T10:00:00Z');
    const { signal, dedupeKey } = parseCloudMonitoring(
      burnRateAlert({ incidentId: '0.abc', target: 'checkout', burnRate: 18.2, startedAt }),
    );
    expect(signal).toMatchObject({
      source: 'cloud-monitoring',
      incidentId: '0.abc',
      state: 'open',
      isTest: false,
      observedValue: 18.2,
      thresholdValue: 14.4,
      targetLabel: 'checkout',
      serviceName: 'checkout',
      startedAt,
      endedAt: null,
    });
    expect(dedupeKey).toBe('0.abc:open');
  });

  it('keeps open and closed notifications of one incident apart', () => {
    const open = parseCloudMonitoring(burnRateAlert({ incidentId: 'x', state: 'open' }));
    const closed = parseCloudMonitoring(burnRateAlert({ incidentId: 'x', state: 'closed' }));
    expect(open.dedupeKey).not.toBe(closed.dedupeKey);
    expect(closed.signal.endedAt).toBeInstanceOf(Date);
  });

  it('accepts the console test notification and marks it as a test', () => {
    const { signal, dedupeKey } = parseCloudMonitoring(testNotification());
    expect(signal.isTest).toBe(true);
    expect(signal.state).toBe('open');
    expect(dedupeKey).toBe('test:12345:open');
  });

  it('reads the condition duration so the engine knows how long the burn held', () => {
    const payload = burnRateAlert();
    payload.incident.condition.conditionThreshold.duration = '300s';
    expect(parseCloudMonitoring(payload).signal.conditionDurationMs).toBe(300_000);
  });

  it.each([
    ['no incident', { version: '1.2' }],
    ['an unknown schema version', { ...burnRateAlert(), version: '2.0' }],
    [
      'an unknown incident state',
      { version: '1.2', incident: { ...burnRateAlert().incident, state: 'paused' } },
    ],
    [
      'started_at as text',
      { version: '1.2', incident: { ...burnRateAlert().incident, started_at: 'yesterday' } },
    ],
    ['an array', []],
  ])('refuses %s with the zod issues', (_name, body) => {
    try {
      parseCloudMonitoring(body);
      expect.unreachable();
    } catch (error) {
      expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_VALIDATION');
      expect(isLastgoodError(error) && Array.isArray(error.details)).toBe(true);
    }
  });
});
