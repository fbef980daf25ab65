import type { JudgementPolicy } from './judgement-policy.ts';
import type { Policy } from './types.ts';

/** Target names double as Cloud Monitoring user label values, so they follow the label rules. */
export const TARGET_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** Where a Cloud Run target lives: the service whose traffic is moved. */
export interface CloudRunTargetConfig {
  kind: 'cloud-run';
  project: string;
  region: string;
  service: string;
}

/** Where a Cloud Deploy target lives: the pipeline and the target in it that is rolled back. */
export interface CloudDeployTargetConfig {
  kind: 'cloud-deploy';
  project: string;
  region: string;
  pipeline: string;
  target: string;
  /** The Cloud Run service the target deploys to (same project and region), when the policy names it. */
  service: string | null;
}

/**
 * The Google resource a target changes: its Cloud Run service, or its pipeline's Cloud Deploy target. Two
 * targets for one resource would roll it back twice for one incident, so the config allows one per resource.
 */
export function protectedResource(location: CloudRunTargetConfig | CloudDeployTargetConfig): string {
  const parent = `projects/${location.project}/locations/${location.region}`;
  return location.kind === 'cloud-run'
    ? `${parent}/services/${location.service}`
    : `${parent}/deliveryPipelines/${location.pipeline}/targets/${location.target}`;
}

/** How a target is rolled back, beside the policy that decides whether it is. */
export interface ExecutionSettings {
  /** The Cloud Run traffic tag that marks a known good revision. */
  stableTag: string;
  /** How long a revision must have served 100% with no incident to count as known good. */
  minHealthyServingMs: number;
  /** Cloud Deploy: suspend the pipeline after a rollback so the bad release is not promoted again. */
  freezeAfterRollback: boolean;
  /**
   * After a rollback succeeds, how long the incident has to close: if it has not by then, the rollback did not
   * heal the service, which is escalated and needs a person before the target is rolled back again.
   */
  verificationWindowMs: number;
  /** How the evidence is judged before an automatic rollback changes production. */
  judgement: JudgementPolicy;
}

/** A configured target: where it lives, its resolved policy and how it is rolled back. */
export type TargetConfig = (CloudRunTargetConfig | CloudDeployTargetConfig) & {
  name: string;
  policy: Policy;
  execution: ExecutionSettings;
};
