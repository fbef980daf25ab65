import { HOLD_REASONS, type JudgementSummary } from './judgement-policy.ts';
import type { RollbackState } from './types.ts';

/** Why a rollback ended without succeeding, or why it was held; stored as the rollback's `errorCode`. */
export const ROLLBACK_ERROR_CODES = [
  'NO_LKG',
  'REVISION_UNUSABLE',
  'GOOGLE_API_ERROR',
  'OPERATION_FAILED',
  'ROLLOUT_FAILED',
  'VERIFY_TIMEOUT',
  'CONCURRENT_CHANGE',
  'DEPLOY_IN_PROGRESS',
  'PIPELINE_SUSPENDED',
  'KILL_SWITCH',
  'UNKNOWN_TARGET',
  'INTERNAL',
  ...HOLD_REASONS,
] as const;
export type RollbackErrorCode = (typeof ROLLBACK_ERROR_CODES)[number];

/** Whether a rollback healed the service, judged once its verification window ends. */
export type Verification = 'pending' | 'healed' | 'not_healed';

/** A rollback as stored: what it chose, how far it got and how it ended. */
export interface RollbackRecord {
  decisionId: string;
  targetName: string;
  state: RollbackState;
  fromRevision: string | null;
  toRevision: string | null;
  lkgRule: string | null;
  errorCode: RollbackErrorCode | null;
  errorMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /**
   * Whether the rollback healed the service: `pending` from its success until the incident closes (`healed`) or
   * `verifyBy` passes without that (`not_healed`); null for a rollback that did not succeed.
   */
  verification: Verification | null;
  verifyBy: Date | null;
  verifiedAt: Date | null;
}

/** One step of a decision's story, shown by the status API. */
export interface TimelineEvent {
  at: Date;
  step: string;
  detail: Record<string, unknown>;
  /**
   * A time-ordered id (`newId('evt')`) fixing the step's place in the timeline. Given by a writer whose steps may
   * commit out of order (concurrent transactions on PostgreSQL); otherwise made when the step is written.
   */
  id?: string;
}

/** How a rollback ended. `state` is terminal. */
export interface RollbackOutcome {
  state: 'succeeded' | 'failed' | 'no_lkg' | 'skipped' | 'held';
  fromRevision: string | null;
  toRevision: string | null;
  lkgRule: string | null;
  errorCode: RollbackErrorCode | null;
  errorMessage: string | null;
  /** A hold's evidence, as people are told it. */
  judgement?: JudgementSummary;
}

/** What is known of a rollback while it runs; only the fields given are changed. */
export type RollbackProgress = Partial<Pick<RollbackRecord, 'fromRevision' | 'toRevision' | 'lkgRule'>>;

/** A terminal outcome that changed nothing in production. */
export function outcomeWithoutChange(
  state: 'failed' | 'no_lkg' | 'skipped' | 'held',
  errorCode: RollbackErrorCode,
  errorMessage: string,
  known: RollbackProgress = {},
): RollbackOutcome {
  return {
    state,
    fromRevision: known.fromRevision ?? null,
    toRevision: known.toRevision ?? null,
    lkgRule: known.lkgRule ?? null,
    errorCode,
    errorMessage,
  };
}
