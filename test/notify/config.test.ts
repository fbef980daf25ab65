import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { EXAMPLE_POLICY } from '../helpers/app.ts';
import { errorOf } from '../helpers/errors.ts';

const load = (env: Record<string, string>) =>
  loadConfig({ LASTGOOD_CONFIG: 'x.yaml', ...env }, () => EXAMPLE_POLICY);

describe('notification settings', () => {
  it('turns no channel on by default and keeps 8 attempts of 5 s', () => {
    expect(load({}).notify).toEqual({
      publicUrl: null,
      slack: null,
      pagerDuty: null,
      webhook: null,
      maxAttempts: 8,
      timeoutMs: 5_000,
    });
  });

  it('reads every channel, with PagerDuty on its public endpoint unless told otherwise', () => {
    const config = load({
      LASTGOOD_PUBLIC_URL: 'https://lastgood.example.com/',
      LASTGOOD_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
      LASTGOOD_PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY',
      LASTGOOD_NOTIFY_WEBHOOK_URL: 'https://ops.example.com/lastgood',
      LASTGOOD_NOTIFY_WEBHOOK_SECRET: 'a-long-enough-secret',
      LASTGOOD_NOTIFY_MAX_ATTEMPTS: '3',
      LASTGOOD_NOTIFY_TIMEOUT: '2s',
    });
    expect(config.notify).toEqual({
      publicUrl: 'https://lastgood.example.com',
      slack: { webhookUrl: 'https://hooks.slack.com/services/T/B/X' },
      pagerDuty: { routingKey: 'R0UTINGKEY', url: 'https://events.pagerduty.com/v2/enqueue' },
      webhook: { url: 'https://ops.example.com/lastgood', secret: 'a-long-enough-secret' },
      maxAttempts: 3,
      timeoutMs: 2_000,
    });
  });

  it.each([
    [
      { LASTGOOD_NOTIFY_WEBHOOK_URL: 'https://ops.example.com/x' },
      'LASTGOOD_NOTIFY_WEBHOOK_SECRET: set both',
    ],
    [{ LASTGOOD_NOTIFY_WEBHOOK_SECRET: 'a-long-enough-secret' }, 'LASTGOOD_NOTIFY_WEBHOOK_SECRET: set both'],
    [
      { LASTGOOD_SLACK_WEBHOOK_URL: 'ftp://hooks.slack.com/x' },
      'LASTGOOD_SLACK_WEBHOOK_URL: must be an http',
    ],
    [{ LASTGOOD_NOTIFY_MAX_ATTEMPTS: '0' }, 'LASTGOOD_NOTIFY_MAX_ATTEMPTS'],
    [{ LASTGOOD_SLACK_WEBHOOK: 'https://hooks.slack.com/x' }, 'LASTGOOD_SLACK_WEBHOOK'],
  ])('refuses %j', (env, message) => {
    expect(errorOf(() => load(env))).toContain(message);
  });
});
