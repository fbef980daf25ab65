import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { warmJudgement, warmWebhookRequest } from '../../src/http/warm-up.ts';

describe('warming the judgement', () => {
  it('judges its made-up bad release to roll back, and shows the verdict with its per-minute series', () => {
    const view = warmJudgement();

    // A rollback verdict over telemetry that was read: every part of the status view's judgement was compiled.
    expect(view).toMatchObject({ verdict: 'rollback', reason: 'ROLLBACK' });
    expect(Object.keys(view.series ?? {}).sort()).toEqual(['warm-up-00001-good', 'warm-up-00002-bad']);
    expect(view.series?.['warm-up-00002-bad']).toHaveLength(10);
  });
});

describe('warming the webhook request', () => {
  it("reads its made-up notification with Fastify's JSON parser to the object it was made from", async () => {
    const server = Fastify();
    try {
      // Parsed, not refused: the poisoning checks ran over a whole notification.
      expect(warmWebhookRequest(server)).toMatchObject({
        version: '1.2',
        incident: { incident_id: '0.lastgood-warm-up' },
      });
    } finally {
      await server.close();
    }
  });
});
