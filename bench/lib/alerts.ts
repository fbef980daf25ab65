import { burnRateAlert } from '../../test/fixtures/alerts.ts';

const INCIDENT_PLACEHOLDER = '@@incident@@';

/**
 * `make`'s value as JSON with a given incident id, serialised once and the id spliced in on each call: cheap
 * enough for a load generator or for writing a million rows.
 */
export function jsonWithIncident(make: (incidentId: string) => unknown): (incidentId: string) => string {
  const parts = JSON.stringify(make(INCIDENT_PLACEHOLDER)).split(INCIDENT_PLACEHOLDER);
  return (incidentId) => parts.join(incidentId);
}

/** The real-shaped (~2 KB) burn-rate alert Cloud Monitoring sends for `target`, as JSON. */
export function alertJson(target: string): (incidentId: string) => string {
  return jsonWithIncident((incidentId) => burnRateAlert({ incidentId, target, service: target }));
}

/**
 * A source of alert bodies, each with an incident id never used before, so every request is a new alert and a
 * durable insert, never a deduplicated redelivery.
 */
export function alertBodies(target: string): () => string {
  const json = alertJson(target);
  const runId = Date.now().toString(36);
  let sequence = 0;
  return () => json(`${runId}-${sequence++}`);
}

export function webhookPath(token: string): string {
  return `/webhook/error-budget-alert?auth_token=${token}`;
}
