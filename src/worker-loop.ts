import type { Logger } from './logger.ts';

/** What a worker loop needs from its worker: how to claim leased work, run one item, and give one back. */
export interface WorkerLoopOptions<T> {
  /** Claims up to `limit` due items under a lease; an empty list when none is due. */
  claim(limit: number): Promise<readonly T[]>;
  /** Runs one claimed item to its end. `signal` is aborted when the loop gives the item up at shutdown. */
  run(item: T, signal: AbortSignal): Promise<void>;
  /** Hands back the lease of an item still running when the shutdown grace ran out, so another replica takes it. */
  release?(item: T): Promise<void>;
  /** Extra work at each poll, beside looking for due items. */
  onPoll?(): void;
  /** Items run at once at most. */
  concurrency: number;
  /** How often to look for work when not woken (work queued by other replicas, expired leases). */
  pollMs: number;
  logger: Logger;
  /** What the work is, for the log line when claiming fails (e.g. `rollback jobs`). */
  what: string;
}

/** A place held in a worker loop for an item this process is creating already claimed by itself. */
export interface Reservation<T> {
  /** Runs the item, created claimed, in the place held for it. */
  start(item: T): void;
  /** Gives the place back: no item was created claimed under it. */
  cancel(): void;
}

/**
 * The loop both workers share: claims due work under a lease up to a concurrency limit, looks again when woken or
 * when an item finishes, polls every `pollMs`, and stops with a grace period. A failed claim is retried at the next
 * poll or wake.
 */
export class WorkerLoop<T> {
  readonly #options: WorkerLoopOptions<T>;
  readonly #running = new Map<T, { done: Promise<void>; abandon: AbortController }>();
  /** Places held by reservations not yet started or cancelled, each settled when it is. */
  readonly #reserved = new Set<Promise<void>>();
  /** Set when shutdown gave up on what still ran: an item created claimed after that is handed back, not run. */
  #abandoned = false;
  #timer: NodeJS.Timeout | null = null;
  #stopped = true;
  #claiming: Promise<void> | null = null;
  #claimAgain = false;

  constructor(options: WorkerLoopOptions<T>) {
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule();
    this.wake();
  }

  /** Looks for work now. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#claiming !== null) {
      this.#claimAgain = true;
      return;
    }
    this.#claiming = this.#claimLoop().finally(() => {
      this.#claiming = null;
    });
  }

  /**
   * Holds a place for an item about to be created already claimed by this process (no claim query, no wait for a
   * poll), or null when every place is taken or the loop has stopped. Until it is started or cancelled the place
   * counts as running, so the concurrency limit holds; a cancelled place wakes the loop, as a finished item does.
   */
  reserve(): Reservation<T> | null {
    if (this.#stopped || this.#busy >= this.#options.concurrency) return null;
    let settle = () => {};
    const place = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#reserved.add(place);
    // True the first time only: a place is started or cancelled once.
    const free = () => this.#reserved.delete(place);
    return {
      start: (item) => {
        if (!free()) return;
        if (this.#abandoned) void this.#handBack(item);
        // Started before the place settles, so a stop waiting for the place finds the item running.
        else this.#start(item);
        settle();
      },
      cancel: () => {
        if (!free()) return;
        settle();
        this.wake();
      },
    };
  }

  /** Items running now. */
  get active(): number {
    return this.#running.size;
  }

  /**
   * Stops claiming and lets the claim and the items under way finish for up to `graceMs`; then gives back what
   * still runs (`release`) and aborts it. True when everything finished within the grace.
   */
  async stop(graceMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    // The claim under way, and items being created claimed, may still start items, so they are waited for before
    // the running ones are collected.
    const all = Promise.all([this.#claiming, ...this.#reserved]).then(() =>
      Promise.allSettled([...this.#running.values()].map(({ done }) => done)),
    );
    let timeout: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      all.then(() => true),
      ...(Number.isFinite(graceMs)
        ? [
            new Promise<boolean>((resolve) => {
              timeout = setTimeout(() => resolve(false), graceMs);
            }),
          ]
        : []),
    ]);
    clearTimeout(timeout);
    if (finished) return true;
    this.#abandoned = true;
    for (const [item, { abandon }] of this.#running) {
      await this.#options.release?.(item);
      abandon.abort();
    }
    return false;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.wake();
      this.#options.onPoll?.();
      this.#schedule();
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  async #claimLoop(): Promise<void> {
    const { concurrency, logger, what } = this.#options;
    try {
      do {
        this.#claimAgain = false;
        while (!this.#stopped && this.#busy < concurrency) {
          const items = await this.#options.claim(concurrency - this.#busy);
          if (items.length === 0) break;
          for (const item of items) this.#start(item);
        }
      } while (this.#claimAgain && !this.#stopped);
    } catch (error) {
      logger.error({ err: error }, `claiming ${what} failed; retrying at the next poll`);
    }
  }

  /** Places taken: items running, and places held for items being created claimed. */
  get #busy(): number {
    return this.#running.size + this.#reserved.size;
  }

  /** Gives back an item created claimed after shutdown gave up, so another process runs it without waiting. */
  async #handBack(item: T): Promise<void> {
    try {
      await this.#options.release?.(item);
    } catch (error) {
      this.#options.logger.error(
        { err: error },
        `handing back ${this.#options.what} failed; its lease will expire`,
      );
    }
  }

  #start(item: T): void {
    const abandon = new AbortController();
    const done = this.#options
      .run(item, abandon.signal)
      .catch((error: unknown) =>
        this.#options.logger.error({ err: error }, `running ${this.#options.what} failed`),
      )
      .finally(() => {
        this.#running.delete(item);
        this.wake();
      });
    this.#running.set(item, { done, abandon });
  }
}
