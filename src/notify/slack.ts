import { type Notification, type NotificationChannel, postJson } from './channel.ts';
import { describe, truncate } from './message.ts';

const ICONS = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

/**
 * Block Kit's limits (api.slack.com/reference/block-kit): past any of them Slack answers 400 `invalid_blocks`,
 * which is permanent, so the message would be dead-lettered unsent. A message has at most six blocks and seven
 * fields by construction, well inside the 50 blocks and 10 fields allowed; only texts can grow, so each is cut.
 */
const LIMITS = { header: 150, sectionText: 3_000, fieldText: 2_000, contextText: 3_000, fallbackText: 3_000 };

const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });

/**
 * The Slack message: a header, the facts as fields, the error, a hold's evidence, the next step, and the link to the
 * status.
 */
export function slackMessage(notification: Notification): Record<string, unknown> {
  const { event, statusUrl } = notification;
  const message = describe(notification);
  // A cut text says where the whole of it is: the status page holds the full error and every fact.
  const marker = statusUrl === null ? '… (truncated)' : `… (truncated; see <${statusUrl}|the status>)`;
  const section = (text: string) => ({
    type: 'section',
    text: mrkdwn(truncate(text, LIMITS.sectionText, marker)),
  });
  const context = [
    statusUrl === null ? null : `<${statusUrl}|Decision status>`,
    event.decisionId,
    `severity ${event.severity}`,
    `audit #${event.seq}`,
  ].filter((part) => part !== null);
  return {
    // The notification text (phones, screen readers) when blocks are not shown.
    text: truncate(message.title, LIMITS.fallbackText),
    blocks: [
      {
        type: 'header',
        // plain_text cannot hold a link: the context block below always carries it.
        text: {
          type: 'plain_text',
          text: truncate(`${ICONS[event.severity]} ${message.title}`, LIMITS.header),
        },
      },
      ...(message.fields.length === 0
        ? []
        : [
            {
              type: 'section',
              fields: message.fields.map(([label, value]) =>
                mrkdwn(truncate(`*${label}*\n${value}`, LIMITS.fieldText, marker)),
              ),
            },
          ]),
      // Apart, so a long error never cuts off what a person should do next.
      ...(message.error === null ? [] : [section(message.error)]),
      ...(message.evidence.length === 0 ? [] : [section(message.evidence.join('\n'))]),
      ...(message.nextStep === null ? [] : [section(message.nextStep)]),
      { type: 'context', elements: [mrkdwn(truncate(context.join(' · '), LIMITS.contextText))] },
    ],
  };
}

/** Slack incoming webhook: every notifiable event, as blocks. The webhook URL is the credential. */
export function slackChannel(webhookUrl: string): NotificationChannel {
  return {
    name: 'slack',
    wants: () => true,
    send: (notification, signal) =>
      postJson(webhookUrl, JSON.stringify(slackMessage(notification)), {}, signal),
  };
}
