import type { Clock } from '../clock.ts';
import { type Backoff, exponentialBackoff } from '../domain/backoff.ts';
import type { TargetConfig } from '../domain/target.ts';
import type { Logger } from '../logger.ts';
import type { NotificationOutcome, OutboxItem, Store } from '../store/store.ts';
import { WorkerLoop } from '../worker-loop.ts';
import { DeliveryError, type Notification, type NotificationChannel } from './channel.ts';

const DEFAULT_BACKOFF = exponentialBackoff({ baseMs: 5_000, maxMs: 10 * 60_000 });

/** How many notifications are sent at once. */
const BATCH = 20;

export interface DeliveryOptions {
  store: Store;
  channels: readonly NotificationChannel[];
  targets: ReadonlyMap<string, TargetConfig>;
  clock: Clock;
  logger: Logger;
  /** This process's name in outbox leases. */
  owner: string;
  pollMs: number;
  /** Per send; a receiver that does not answer in time counts as a failed attempt. */
  timeoutMs: number;
  /** Attempts before a notification is dead-lettered. */
  maxAttempts: number;
  /** `LASTGOOD_PUBLIC_URL`, for links to a decision's status; null leaves links out. */
  publicUrl: string | null;
  /** Waits between attempts; default 5 s doubling to 10 min. */
  backoff?: Backoff;
}

function serviceOf(target: TargetConfig | undefined): string | null {
  if (target === undefined) return null;
  return target.kind === 'cloud-run' ? target.service : `${target.pipeline}/${target.target}`;
}

/**
 * Delivers the outbox: claims due notifications under a lease (so replicas share the work and a dead process's
 * claims come back), sends each to every channel that wants it and has not taken it yet, and records the result:
 * delivered, retried later with exponential backoff, or dead-lettered after `maxAttempts` (at once when a
 * receiver refuses the request itself). It runs apart from rollbacks, which never wait for it.
 */
export class DeliveryWorker {
  readonly #options: DeliveryOptions;
  readonly #backoff: Backoff;
  readonly #loop: WorkerLoop<OutboxItem>;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    const { store, clock, owner, timeoutMs, channels } = options;
    // The lease outlives every channel's timeout, so a live sender never loses a claim it is working on.
    const leaseMs = timeoutMs * (channels.length + 1) + 5_000;
    this.#loop = new WorkerLoop({
      claim: (limit) => store.claimNotifications(owner, clock.now(), leaseMs, limit),
      run: (item) => this.#deliver(item),
      concurrency: BATCH,
      pollMs: options.pollMs,
      logger: options.logger,
      what: 'notifications',
    });
  }

  start(): void {
    this.#loop.start();
  }

  /** Looks for due notifications now. */
  wake(): void {
    this.#loop.wake();
  }

  /** Stops claiming and waits for the sends under way (each bounded by the timeout). */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #deliver(item: OutboxItem): Promise<void> {
    const { store, clock, logger, owner, channels, timeoutMs, maxAttempts } = this.#options;
    const notification = this.#notification(item);
    const todo = channels.filter(
      (channel) => channel.wants(item.event) && !item.deliveredTo.includes(channel.name),
    );
    const results = await Promise.allSettled(
      todo.map((channel) => channel.send(notification, AbortSignal.timeout(timeoutMs))),
    );
    const deliveredTo = [...item.deliveredTo];
    const failures: { channel: string; error: DeliveryError }[] = [];
    results.forEach((result, index) => {
      const channel = todo[index]!.name;
      if (result.status === 'fulfilled') deliveredTo.push(channel);
      else {
        const error =
          result.reason instanceof DeliveryError
            ? result.reason
            : new DeliveryError(result.reason instanceof Error ? result.reason.message : 'failed', false);
        failures.push({ channel, error });
      }
    });
    const now = clock.now();
    const retryInMs = this.#backoff(item.attempts);
    const giveUp =
      failures.length > 0 &&
      (item.attempts >= maxAttempts || retryInMs === null || failures.every(({ error }) => error.permanent));
    const outcome: NotificationOutcome = {
      state: failures.length === 0 ? 'delivered' : giveUp ? 'dead' : 'pending',
      deliveredTo,
      lastError:
        failures.length === 0
          ? null
          : failures.map(({ channel, error }) => `${channel}: ${error.message}`).join('; '),
      nextAttemptAt: new Date(now.getTime() + (retryInMs ?? 0)),
      at: now,
    };
    if (!(await store.finishNotification(item.id, owner, outcome))) {
      logger.warn({ notificationId: item.id }, 'lost the lease on a notification; another sender has it');
      return;
    }
    if (failures.length === 0) return;
    const log = {
      notificationId: item.id,
      type: item.event.type,
      attempts: item.attempts,
      error: outcome.lastError,
    };
    if (giveUp) logger.error(log, 'notification dead-lettered; see GET /v1/notifications/dead-letters');
    else
      logger.warn({ ...log, retryAt: outcome.nextAttemptAt.toISOString() }, 'notification not delivered yet');
  }

  #notification(item: OutboxItem): Notification {
    const { event } = item;
    const { publicUrl, targets } = this.#options;
    return {
      id: item.id,
      event,
      service: event.target === null ? null : serviceOf(targets.get(event.target)),
      statusUrl:
        publicUrl === null || event.decisionId === null
          ? null
          : `${publicUrl}/ui/decisions/${event.decisionId}`,
    };
  }
}
