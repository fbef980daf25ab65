import type { Clock } from '../clock.ts';
import type { NotifyConfig } from '../config/types.ts';
import type { NotificationChannel } from './channel.ts';
import { pagerDutyChannel } from './pagerduty.ts';
import { slackChannel } from './slack.ts';
import { webhookChannel } from './webhook.ts';

/** The channels the configuration turns on; none when no channel is configured. */
export function createChannels(config: NotifyConfig, clock: Clock): NotificationChannel[] {
  const channels: NotificationChannel[] = [];
  if (config.slack !== null) channels.push(slackChannel(config.slack.webhookUrl));
  if (config.pagerDuty !== null)
    channels.push(pagerDutyChannel(config.pagerDuty.routingKey, config.pagerDuty.url));
  if (config.webhook !== null) {
    channels.push(webhookChannel(config.webhook.url, config.webhook.secret, () => clock.now()));
  }
  return channels;
}
