import type { RecordedEvent } from '../events/event.ts';
import { type Notification, type NotificationChannel, postJson } from './channel.ts';
import { describe, truncate } from './message.ts';

/** PagerDuty Events API v2 cuts a summary longer than this. */
const SUMMARY_MAX = 1024;

/** One incident per rollback: every page and resolve about it carries this key. */
export function dedupKey(decisionId: string): string {
  return `lastgood-${decisionId}`;
}

/**
 * The rollbacks an event resolves: a healed rollback, or those a person took back (resuming a target clears
 * every rollback that blocked it). Empty when the event resolves nothing.
 */
function resolves(event: RecordedEvent): string[] {
  if (event.type === 'rollback_healed' && event.decisionId !== null) return [event.decisionId];
  if (event.type === 'target_resumed') return (event.data.cleared as string[] | undefined) ?? [];
  return [];
}

function pages(event: RecordedEvent): boolean {
  return event.severity === 'critical' && event.decisionId !== null;
}

/** The Events API v2 bodies for an event: one trigger, or one resolve per rollback it settles. */
export function pagerDutyEvents(notification: Notification, routingKey: string): Record<string, unknown>[] {
  const { event, statusUrl } = notification;
  if (!pages(event)) {
    return resolves(event).map((decisionId) => ({
      routing_key: routingKey,
      event_action: 'resolve',
      dedup_key: dedupKey(decisionId),
    }));
  }
  const message = describe(notification);
  const detail = [message.error, message.nextStep].filter((part) => part !== null).join('\n');
  const summary = detail === '' ? message.title : `${message.title}: ${detail}`;
  return [
    {
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: dedupKey(event.decisionId!),
      client: 'lastgood',
      ...(statusUrl === null ? {} : { client_url: statusUrl }),
      payload: {
        summary: truncate(summary, SUMMARY_MAX),
        source: notification.service ?? event.target ?? 'lastgood',
        severity: 'critical',
        timestamp: event.at.toISOString(),
        component: event.target,
        class: event.type,
        custom_details: { ...Object.fromEntries(message.fields), ...event.data, auditSeq: event.seq },
      },
      ...(statusUrl === null ? {} : { links: [{ href: statusUrl, text: 'lastgood decision status' }] }),
    },
  ];
}

/**
 * PagerDuty Events API v2: pages (`trigger`) for a failed rollback, one with nothing to go back to, and one that
 * did not heal; `resolve`s when the rollback heals or a person resumes the target.
 */
export function pagerDutyChannel(routingKey: string, url: string): NotificationChannel {
  return {
    name: 'pagerduty',
    wants: (event) => pages(event) || resolves(event).length > 0,
    async send(notification, signal) {
      for (const body of pagerDutyEvents(notification, routingKey)) {
        await postJson(url, JSON.stringify(body), {}, signal);
      }
    },
  };
}
