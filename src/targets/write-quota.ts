import { nextWriteSlot, type WriteBudget } from '../domain/write-window.ts';

/**
 * Spaces a process's mutating Google calls so that each API, project and region stays within its write quota
 * (Cloud Run Admin API: 60 writes per minute per project and region by default). Without it a storm of rollbacks
 * gets RESOURCE_EXHAUSTED, which fails the rollbacks past the quota instead of delaying them.
 */
export class WriteQuota {
  readonly #budget: WriteBudget;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Start times taken or reserved per quota key, ascending; only those still inside the window are kept. */
  readonly #starts = new Map<string, number[]>();

  constructor(budget: WriteBudget, now: () => number, sleep: (ms: number) => Promise<void>) {
    this.#budget = budget;
    this.#now = now;
    this.#sleep = sleep;
  }

  /** Waits until a call under `key` (`api/project/region`) may start; resolves with how long it waited. */
  async take(key: string): Promise<number> {
    const now = this.#now();
    const starts = (this.#starts.get(key) ?? []).filter((at) => at > now - this.#budget.windowMs);
    // Reserved before waiting, so callers that arrive meanwhile queue behind this one instead of racing for it.
    const slot = nextWriteSlot(starts, now, this.#budget);
    starts.push(slot);
    this.#starts.set(key, starts);
    if (slot > now) await this.#sleep(slot - now);
    return slot - now;
  }
}
