/** What `run` throws; fails the test when it throws nothing, so an expected refusal cannot pass by not happening. */
export function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal, but nothing was thrown');
}

/** The message of what `run` throws (see `thrownBy`). */
export function errorOf(run: () => unknown): string {
  return (thrownBy(run) as Error).message;
}
