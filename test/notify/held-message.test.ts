import { describe, expect, it } from 'vitest';
import { judge } from '../../src/domain/judge.ts';
import { DEFAULT_JUDGEMENT_POLICY } from '../../src/domain/judgement-policy.ts';
import type { RecordedEvent } from '../../src/events/event.ts';
import type { Notification } from '../../src/notify/channel.ts';
import { describe as describeEvent } from '../../src/notify/message.ts';
import { slackMessage } from '../../src/notify/slack.ts';
import { webhookBody } from '../../src/notify/webhook.ts';
import { at, evidenceOf, minutes } from '../domain/evidence-builder.ts';

const STABLE = 'checkout-00001-abc';
const CANARY = 'checkout-00002-xyz';

/** A 25% canary and its stable revision, both failing 8% since 15 minutes ago, and one other target burning. */
const judgement = judge(
  evidenceOf({
    startedAt: -8,
    revisions: [
      { name: STABLE, createdAt: -5760 },
      { name: CANARY, createdAt: -16 },
    ],
    traffic: { [STABLE]: 75, [CANARY]: 25 },
    series: {
      [STABLE]: minutes([
        { from: -120, to: -15, rpm: 800, errorRate: 0.002 },
        { from: -15, to: -1, rpm: 600, errorRate: 0.08 },
      ]),
      [CANARY]: minutes([{ from: -15, to: -1, rpm: 200, errorRate: 0.08 }]),
    },
    to: -1,
    lastKnownGood: STABLE,
    correlated: [{ target: 'payments', startedAt: at(-7), changedRecently: false }],
  }),
  DEFAULT_JUDGEMENT_POLICY,
);

/** The held event as the delivery worker reads it back from the outbox: its data through JSON. */
function heldNotification(): Notification {
  const event: RecordedEvent = {
    seq: 9,
    prevHash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
    type: 'rollback_held',
    severity: 'warning',
    at: at(0),
    target: 'checkout',
    decisionId: 'dec_01jd5x0000000000000000000a',
    actor: 'lastgood',
    data: JSON.parse(
      JSON.stringify({
        state: 'held',
        fromRevision: CANARY,
        toRevision: null,
        reason: 'ROLLBACK',
        confidence: 0.9,
        errorCode: judgement.reason,
        errorMessage: `Held (${judgement.reason})`,
        incidentId: 'inc_1',
        judgement: judgement.summary,
      }),
    ),
  };
  return { id: 'obx_1', event, service: 'checkout', statusUrl: null };
}

describe('a held notification shows the evidence in words', () => {
  it('says the hold reason, the suspect and its change time, the onset, both ratios and the correlated targets', () => {
    expect(judgement.reason).toBe('NOT_REVISION_SPECIFIC');
    const message = describeEvent(heldNotification());
    expect(message.fields).toContainEqual(['Reason', 'NOT_REVISION_SPECIFIC']);
    const change = judgement.summary.change!.at.toISOString().slice(0, 16).replace('T', ' ');
    const onset = judgement.summary.onset!.toISOString().slice(0, 16).replace('T', ' ');
    expect(message.evidence).toEqual([
      `Suspect: ${CANARY}, serving since ${change}Z (monitoring)`,
      `Errors began: ${onset}Z`,
      expect.stringMatching(
        new RegExp(
          `^Error ratios: suspect ${CANARY}: 8\\.\\d\\d% 5xx of \\d+ requests; baseline ${STABLE}: 8\\.\\d\\d% 5xx of \\d+ requests$`,
        ),
      ),
      'Other targets burning at once: 1 (1 without a known recent change)',
    ]);
  });

  it('carries the words to Slack, within Block Kit, and to the webhook beside the summary', () => {
    const notification = heldNotification();
    const words = describeEvent(notification).evidence;
    const slack = JSON.stringify(slackMessage(notification).blocks);
    for (const line of words) expect(slack).toContain(JSON.stringify(line).slice(1, -1));
    expect((slackMessage(notification).blocks as unknown[]).length).toBeLessThanOrEqual(6);
    const body = webhookBody(notification);
    expect(body.evidence).toEqual(words);
    expect((body.data as { judgement: { suspect: string } }).judgement.suspect).toBe(CANARY);
  });

  it('says nothing of evidence for an event without a judgement', () => {
    const notification = heldNotification();
    const { judgement: _dropped, ...data } = notification.event.data;
    expect(describeEvent({ ...notification, event: { ...notification.event, data } }).evidence).toEqual([]);
    expect(
      describeEvent({ ...notification, event: { ...notification.event, type: 'rollback_failed' } }).evidence,
    ).toEqual([]);
  });
});
