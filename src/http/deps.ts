import type { TokenSource } from '../auth/token-source.ts';
import type { Clock } from '../clock.ts';
import type { Controls } from '../domain/controls.ts';
import type { TargetConfig } from '../domain/target.ts';
import type { LocalRollbacks } from '../ingest/intake.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';

/** What the HTTP layer needs from the rest of lastgood. `src/app.ts` builds it. */
export interface HttpDeps {
  store: Store;
  targets: ReadonlyMap<string, TargetConfig>;
  controls: Controls;
  clock: Clock;
  webhookTokens: TokenSource;
  metrics: Metrics;
  /** False once shutdown has begun: /readyz answers 503 and intake refuses new work. */
  accepting(): boolean;
  /** This process's rollback worker, which runs the rollbacks decided here at once; null when it has none. */
  rollbacks: LocalRollbacks | null;
  /** Told when a notification was queued again, so this process sends it at once. */
  notificationQueued(): void;
  /** Throws LASTGOOD_ERR_REVISION_UNUSABLE unless the revision a manual request names exists and is ready. */
  checkRequestedRevision(target: TargetConfig, revision: string): Promise<void>;
  /** Resumes the delivery pipeline of a Cloud Deploy target; false when it was not suspended. */
  unfreezeTarget(target: TargetConfig): Promise<boolean>;
}
