import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVENT_TYPES, type EventType, isNotifiable, type RecordedEvent } from '../../src/events/event.ts';
import type { Notification } from '../../src/notify/channel.ts';
import { truncate } from '../../src/notify/message.ts';
import { slackChannel, slackMessage } from '../../src/notify/slack.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

/**
 * Block Kit's limits as Slack documents them (api.slack.com/reference/block-kit), written out here rather than
 * imported, so a wrong limit in the code cannot agree with itself.
 */
const LIMITS = {
  blocks: 50,
  header: 150,
  sectionText: 3_000,
  fields: 10,
  fieldText: 2_000,
  contextElements: 10,
};
const CONTEXT_TEXT_MAX = 3_000;

interface TextObject {
  type: string;
  text: string;
}
interface Block {
  type: string;
  text?: TextObject;
  fields?: TextObject[];
  elements?: TextObject[];
}

/** Every way a message breaks Block Kit's limits, as Slack's `invalid_blocks` would refuse it; empty when valid. */
function blockKitViolations(message: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const blocks = (message.blocks ?? []) as Block[];
  if (blocks.length > LIMITS.blocks) problems.push(`${blocks.length} blocks`);
  const check = (where: string, text: string | undefined, max: number) => {
    if (text === undefined || text.length === 0) problems.push(`${where}: empty text`);
    else if (text.length > max) problems.push(`${where}: ${text.length} > ${max} characters`);
  };
  blocks.forEach((block, index) => {
    const where = `blocks[${index}] ${block.type}`;
    if (block.type === 'header') check(where, block.text?.text, LIMITS.header);
    if (block.type === 'section') {
      if (block.text === undefined && block.fields === undefined)
        problems.push(`${where}: no text nor fields`);
      if (block.text !== undefined) check(where, block.text.text, LIMITS.sectionText);
      if ((block.fields?.length ?? 0) > LIMITS.fields)
        problems.push(`${where}: ${block.fields!.length} fields`);
      block.fields?.forEach((field, f) => {
        check(`${where} field ${f}`, field.text, LIMITS.fieldText);
      });
    }
    if (block.type === 'context') {
      if ((block.elements?.length ?? 0) > LIMITS.contextElements)
        problems.push(`${where}: too many elements`);
      block.elements?.forEach((element, e) => {
        check(`${where} element ${e}`, element.text, CONTEXT_TEXT_MAX);
      });
    }
  });
  return problems;
}

const STATUS_URL = 'https://lastgood.example.com/v1/rollback/status/dec_01jd5x0000000000000000000a';
const LONG_ERROR =
  `UpdateService failed: ${'quota exceeded for resource run.googleapis.com/services; '.repeat(120)}`.slice(
    0,
    6_000,
  );
const LONG_NAME = `checkout-${'x'.repeat(400)}`;
const LONG_REVISION = `${LONG_NAME}-00002-${'r'.repeat(2_500)}`;

/** The data a notifiable event of each type carries, each fact as long as it can be made. */
function longEvent(type: EventType): RecordedEvent {
  return {
    seq: 7,
    prevHash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
    type,
    severity: 'critical',
    at: new Date('2026-11-23T12:00:00Z'),
    target: LONG_NAME,
    decisionId: 'dec_01jd5x0000000000000000000a',
    actor: `operator-${'o'.repeat(500)}`,
    data: {
      action: 'rollback',
      reason: 'ROLLBACK',
      confidence: 0.9,
      state: 'failed',
      fromRevision: LONG_REVISION,
      toRevision: `${LONG_REVISION}-good`,
      errorCode: `OPERATION_FAILED_${'E'.repeat(300)}`,
      errorMessage: LONG_ERROR,
      mode: `dry-run-${'m'.repeat(2_500)}`,
      requestedBy: `person-${'p'.repeat(2_500)}`,
      nextEligibleAt: '2026-11-23T13:00:00.000Z',
      enabled: false,
      incidentId: 'inc_1',
      // A hold's evidence: long revision names in every window, and a region-wide outage's worth of targets.
      judgement: {
        evidenceMode: 'auto',
        telemetry: { status: 'ok', message: null },
        suspect: LONG_REVISION,
        baseline: `${LONG_REVISION}-good`,
        split: true,
        rollbackTo: null,
        change: { at: '2026-11-23T11:50:00.000Z', source: 'monitoring' },
        startedAt: '2026-11-23T11:58:00.000Z',
        earliestErrorsAt: '2026-11-23T10:58:00.000Z',
        onset: '2026-11-23T11:55:00.000Z',
        windows: ['suspect', 'baseline', 'suspect_before_onset'].map((role) => ({
          revision: LONG_REVISION,
          role,
          from: '2026-11-23T11:55:00.000Z',
          to: '2026-11-23T12:00:00.000Z',
          requests: 1000,
          errors: 80,
          ratio: 0.08,
        })),
        correlated: Array.from({ length: 300 }, (_, i) => ({
          target: `${LONG_NAME}-${i}`,
          startedAt: '2026-11-23T11:57:00.000Z',
          changedRecently: false,
        })),
      },
    },
  };
}

function longNotification(type: EventType): Notification {
  return { id: 'obx_1', event: longEvent(type), service: `${LONG_NAME}-service`, statusUrl: STATUS_URL };
}

const NOTIFIABLE = EVENT_TYPES.filter((type) => isNotifiable(longEvent(type)));

/** Stands in for Slack: refuses a message breaking Block Kit's limits with `400 invalid_blocks`, as Slack does. */
const slackRefusal = (json: Record<string, unknown>) =>
  blockKitViolations(json).length === 0 ? null : { status: 400, body: 'invalid_blocks' };

describe('Slack messages stay within Block Kit limits', () => {
  it('covers every notifiable event type, rollback_held included', () => {
    expect(NOTIFIABLE).toContain('rollback_held');
    expect(NOTIFIABLE).toContain('rollback_failed');
    expect(NOTIFIABLE).not.toContain('google_mutation');
  });

  it.each(NOTIFIABLE)('%s with very long names and errors is valid Block Kit', (type) => {
    const message = slackMessage(longNotification(type));
    expect(blockKitViolations(message)).toEqual([]);
  });

  it.each(NOTIFIABLE)('%s without a status link is valid Block Kit', (type) => {
    const message = slackMessage({ ...longNotification(type), statusUrl: null });
    expect(blockKitViolations(message)).toEqual([]);
  });

  it("cuts a hold's long evidence to one section with a marker, and keeps the next step", () => {
    const blocks = slackMessage(longNotification('rollback_held')).blocks as Block[];
    const evidence = blocks.find((block) => block.text?.text.startsWith('Suspect: '));
    expect(evidence?.text?.text.endsWith(`… (truncated; see <${STATUS_URL}|the status>)`)).toBe(true);
    expect(JSON.stringify(blocks)).toContain(`npx lastgood rollback ${LONG_NAME}`);
  });

  it('cuts a 6,000-character error to one section with a marker and the status link, and keeps the next step', () => {
    const message = slackMessage(longNotification('rollback_failed'));
    const texts = JSON.stringify(message.blocks);
    expect(texts).toContain(`… (truncated; see <${STATUS_URL}|the status>)`);
    expect(texts).toContain(LONG_ERROR.slice(0, 1_000));
    expect(texts).toContain(`/v1/targets/${LONG_NAME}/resume`);
    expect((message.blocks as Block[])[0]!.text!.text.endsWith('…')).toBe(true);
  });

  it('never cuts an emoji in half, and shrinks a marker too long for the limit', () => {
    expect(truncate('a😀b', 3)).toBe('a…');
    expect(truncate('abcdef', 4, '… (truncated)')).toBe('abc…');
  });

  it('leaves a message within the limits as it was', () => {
    const message = slackMessage({
      ...longNotification('rollback_failed'),
      event: {
        ...longEvent('rollback_failed'),
        target: 'checkout',
        data: { errorMessage: 'quota exceeded' },
      },
      service: 'checkout',
    });
    expect(JSON.stringify(message)).not.toContain('truncated');
  });
});

describe('a failed rollback with a long error reaches Slack', () => {
  let slack: Receiver;
  beforeEach(async () => {
    slack = await startReceiver('/services/T000/B000/slack-secret-path', slackRefusal);
  });
  afterEach(async () => {
    await slack.close();
  });

  it('is taken (200), not refused as invalid_blocks and dead-lettered', async () => {
    await expect(
      slackChannel(slack.url).send(longNotification('rollback_failed'), AbortSignal.timeout(2_000)),
    ).resolves.toBeUndefined();
    const [request] = await slack.waitFor(1);
    expect(JSON.stringify(request!.json)).toContain('UpdateService failed: quota exceeded');
  });
});
