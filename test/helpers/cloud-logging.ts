/**
 * lastgood's log lines as Cloud Logging stores them, and the equality filters lastgood's Terraform writes, so a
 * test can check that a log-based metric or a runbook query selects the line lastgood really writes.
 */

import { fileURLToPath } from 'node:url';
import {
  defaults,
  evaluate,
  type Json,
  loadTerraformDir,
  resolvedLocals,
  resource,
} from '../terraform/hcl.ts';

const LASTGOOD_MODULE = fileURLToPath(new URL('../../terraform/modules/lastgood/', import.meta.url));
const PROJECT = 'lastgood-project';

/** The monitored resource lastgood's lines have on Cloud Run, deployed by the module with its defaults. */
export const LASTGOOD_ON_CLOUD_RUN = {
  type: 'cloud_run_revision',
  labels: { project_id: PROJECT, service_name: 'lastgood' },
};

/** The filter of one of the lastgood module's log-based metrics, as Terraform renders it for that deployment. */
export async function terraformLogMetricFilter(name: string): Promise<string> {
  const dir = await loadTerraformDir(LASTGOOD_MODULE);
  const locals = resolvedLocals(dir, { ...defaults(dir), project_id: PROJECT });
  const filter = evaluate(resource(dir, `google_logging_metric.${name}`).filter!, { local: locals });
  if (typeof filter !== 'string' || filter.includes('${')) throw new Error(`filter not resolved: ${filter}`);
  return filter;
}

/** The special fields Cloud Logging lifts out of a structured line into the LogEntry itself. */
const LIFTED: Record<string, string> = {
  severity: 'severity',
  httpRequest: 'httpRequest',
  'logging.googleapis.com/labels': 'labels',
  'logging.googleapis.com/trace': 'trace',
  'logging.googleapis.com/spanId': 'spanId',
};

/** One JSON line of lastgood's, as the LogEntry Cloud Logging makes of it on Cloud Run. */
export function asLogEntry(line: string, resource: { type: string; labels: Record<string, string> }): Json {
  const payload = JSON.parse(line) as Record<string, Json>;
  const entry: Record<string, Json> = { resource, jsonPayload: {} };
  for (const [key, value] of Object.entries(payload)) {
    if (key in LIFTED) entry[LIFTED[key]!] = value;
    else (entry.jsonPayload as Record<string, Json>)[key] = value;
  }
  return entry;
}

function fieldOf(entry: Json, path: string): Json | undefined {
  let value: Json | undefined = entry;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = value[part];
  }
  return value;
}

/**
 * Whether an entry matches a filter of `field="value"` comparisons joined by AND, the only form lastgood's Terraform
 * uses for lines; anything else in the filter throws, so a test never passes on a clause it did not check.
 */
export function matchesLogFilter(filter: string, entry: Json): boolean {
  return filter.split(' AND ').every((clause) => {
    const match = /^([\w.]+)="((?:[^"\\]|\\.)*)"$/.exec(clause.trim());
    if (!match) throw new Error(`not an equality clause: ${clause}`);
    return String(fieldOf(entry, match[1]!)) === JSON.parse(`"${match[2]}"`);
  });
}
