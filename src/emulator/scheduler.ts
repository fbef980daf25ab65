/** Delayed state transitions (operations finishing, rollouts progressing), cancelled together on reset or stop. */
export class Scheduler {
  readonly #timers = new Set<NodeJS.Timeout>();

  after(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, delayMs);
    this.#timers.add(timer);
  }

  cancelAll(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
