import { type Notification, type NotificationChannel, postJson } from './channel.ts';
import { describe } from './message.ts';

const ICONS = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

/** Slack's header blocks take at most 150 characters of plain text. */
const HEADER_MAX = 150;

/** The Slack message: a header, the facts as fields, the error or next step, and the link to the status. */
export function slackMessage(notification: Notification): Record<string, unknown> {
  const { event, statusUrl } = notification;
  const message = describe(notification);
  const title = `${ICONS[event.severity]} ${message.title}`;
  const context = [
    statusUrl === null ? null : `<${statusUrl}|Decision status>`,
    event.decisionId,
    `severity ${event.severity}`,
    `audit #${event.seq}`,
  ].filter((part) => part !== null);
  return {
    // The notification text (phones, screen readers) when blocks are not shown.
    text: message.title,
    blocks: [
      {
        type: 'header',
        text: {
          type: 'plain_text',
          text: title.length > HEADER_MAX ? `${title.slice(0, HEADER_MAX - 1)}…` : title,
        },
      },
      ...(message.fields.length === 0
        ? []
        : [
            {
              type: 'section',
              fields: message.fields.map(([label, value]) => ({
                type: 'mrkdwn',
                text: `*${label}*\n${value}`,
              })),
            },
          ]),
      ...(message.detail === null
        ? []
        : [{ type: 'section', text: { type: 'mrkdwn', text: message.detail } }]),
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
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
