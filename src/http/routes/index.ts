import type { HttpDeps } from '../deps.ts';
import type { BoundRoute, RouteSpec } from '../route.ts';
import { auditListRoute, auditRoutes, auditVerifyRoute } from './audit.ts';
import {
  controlRoutes,
  getKillSwitchRoute,
  putKillSwitchRoute,
  putModeRoute,
  resumeRoute,
} from './controls.ts';
import {
  docsPageRoute,
  docsRoutes,
  docsScriptRoute,
  docsStylesheetRoute,
  openApiJsonRoute,
  openApiYamlRoute,
} from './docs.ts';
import { healthRoutes, healthzRoute, readyzRoute } from './health.ts';
import { deadLettersRoute, notificationRoutes, retryNotificationRoute } from './notifications.ts';
import { acknowledgeRoute, manualRollbackRoute, operatorRoutes, unfreezeRoute } from './operator.ts';
import { prometheusMetricsRoute, prometheusRoutes } from './prometheus.ts';
import { pubsubRoute, pubsubRoutes } from './pubsub.ts';
import { decisionEventsRoute, metricsRoute, recentRoute, statusRoute, statusRoutes } from './status.ts';
import { listTargetsRoute, targetRoutes } from './targets.ts';
import { webhookRoute, webhookRoutes } from './webhook.ts';

/** Every route lastgood serves, in the order openapi.yaml lists them. */
export const ROUTE_SPECS: readonly RouteSpec[] = [
  webhookRoute,
  pubsubRoute,
  statusRoute,
  decisionEventsRoute,
  recentRoute,
  metricsRoute,
  acknowledgeRoute,
  manualRollbackRoute,
  unfreezeRoute,
  resumeRoute,
  listTargetsRoute,
  getKillSwitchRoute,
  putKillSwitchRoute,
  putModeRoute,
  auditListRoute,
  auditVerifyRoute,
  deadLettersRoute,
  retryNotificationRoute,
  prometheusMetricsRoute,
  healthzRoute,
  readyzRoute,
  openApiYamlRoute,
  openApiJsonRoute,
  docsPageRoute,
  docsScriptRoute,
  docsStylesheetRoute,
];

export function allRoutes(deps: HttpDeps): BoundRoute[] {
  return [
    ...webhookRoutes(deps),
    ...pubsubRoutes(deps),
    ...statusRoutes(deps),
    ...operatorRoutes(deps),
    ...controlRoutes(deps),
    ...targetRoutes(deps),
    ...auditRoutes(deps),
    ...notificationRoutes(deps),
    ...prometheusRoutes(deps),
    ...healthRoutes(deps),
    ...docsRoutes(),
  ];
}
