import { type ParsedAlert, parseCloudMonitoring } from './cloud-monitoring.ts';
import { parsePubsubAlert, pubsubPushSchema } from './pubsub.ts';

/**
 * A burn-rate notification as Cloud Monitoring sends it (schema 1.2), with every part the intake schema checks,
 * so parsing it runs each nested validator once. It routes to no target and is never stored.
 */
export const WARM_UP_NOTIFICATION = {
  version: '1.2',
  incident: {
    incident_id: '0.lastgood-warm-up',
    scoping_project_id: 'lastgood-warm-up',
    scoping_project_number: 1,
    url: 'https://console.cloud.google.com/monitoring/alerting/incidents/0.lastgood-warm-up',
    severity: 'Critical',
    started_at: 0,
    ended_at: null,
    state: 'open',
    summary:
      'Burn rate on the SLO of lastgood-warm-up is above the threshold of 14.4 with a value of 18.200.',
    observed_value: '18.200',
    threshold_value: '14.4',
    resource: { type: 'cloud_run_revision', labels: { service_name: 'lastgood-warm-up' } },
    resource_name: 'projects/lastgood-warm-up/locations/us-central1/services/lastgood-warm-up',
    policy_name: 'lastgood-warm-up fast burn',
    policy_user_labels: { lastgood_target: 'lastgood-warm-up' },
    condition_name: 'Burn rate above 14.4x over 3600s',
    condition: {
      name: 'projects/lastgood-warm-up/alertPolicies/1/conditions/1',
      displayName: 'Burn rate above 14.4x over 3600s',
      conditionThreshold: {
        filter:
          'select_slo_burn_rate("projects/lastgood-warm-up/services/s/serviceLevelObjectives/o", "3600s")',
        comparison: 'COMPARISON_GT',
        thresholdValue: 14.4,
        duration: '0s',
      },
    },
    metadata: { system_labels: {}, user_labels: {} },
  },
};

/**
 * Parses a made-up notification, by webhook and by Pub/Sub push, and stores nothing: zod compiles each object's
 * validator at its first parse, which cost the first alert's ack 5-10 ms (30-50 ms in a process that had parsed
 * nothing yet). Call it once the process is ready. Throws if the notification no longer parses, since it would
 * then warm only the refusal path.
 */
export function warmIntakeParsers(): ParsedAlert[] {
  const body = JSON.stringify(WARM_UP_NOTIFICATION);
  return [
    parseCloudMonitoring(WARM_UP_NOTIFICATION),
    parsePubsubAlert(
      pubsubPushSchema.parse({
        message: { data: Buffer.from(body).toString('base64'), messageId: '1', attributes: {} },
        subscription: 'projects/lastgood-warm-up/subscriptions/lastgood-warm-up',
      }),
    ).parsed,
  ];
}
