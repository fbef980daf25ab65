import { describe, expect, it } from 'vitest';
import { listedBackoff } from '../src/domain/backoff.ts';
import { retry } from '../src/retry.ts';

class Transient extends Error {}

/** A fake sleep: it records each wait and returns at once, so no test waits for real. */
function fakeTime() {
  const slept: number[] = [];
  return { slept, sleep: async (ms: number) => void slept.push(ms) };
}

function failing(times: number, error: () => Error = () => new Transient('flaky')) {
  let calls = 0;
  const attempt = async () => {
    calls += 1;
    if (calls <= times) throw error();
    return `ok after ${calls}`;
  };
  return { attempt, calls: () => calls };
}

describe('retry', () => {
  it('sleeps the backoff between attempts and returns the first success', async () => {
    const time = fakeTime();
    const retries: [number, number][] = [];
    const work = failing(2);
    const result = await retry(work.attempt, {
      backoff: listedBackoff([100, 200, 400]),
      sleep: time.sleep,
      retryable: (error) => error instanceof Transient,
      onRetry: async (attempt, _error, delayMs) => void retries.push([attempt, delayMs]),
    });
    expect(result).toBe('ok after 3');
    expect(time.slept).toEqual([100, 200]);
    expect(retries).toEqual([
      [1, 100],
      [2, 200],
    ]);
  });

  it('throws the last error once the backoff has no wait left', async () => {
    const time = fakeTime();
    const work = failing(10);
    await expect(
      retry(work.attempt, {
        backoff: listedBackoff([100, 200]),
        sleep: time.sleep,
        retryable: () => true,
      }),
    ).rejects.toBeInstanceOf(Transient);
    expect(work.calls()).toBe(3);
    expect(time.slept).toEqual([100, 200]);
  });

  it('throws a failure that is not retryable at once, without sleeping', async () => {
    const time = fakeTime();
    const work = failing(1, () => new TypeError('bad request'));
    await expect(
      retry(work.attempt, {
        backoff: listedBackoff([100]),
        sleep: time.sleep,
        retryable: (error) => error instanceof Transient,
      }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(work.calls()).toBe(1);
    expect(time.slept).toEqual([]);
  });

  it('records the retry before it waits', async () => {
    const order: string[] = [];
    const work = failing(1);
    await retry(work.attempt, {
      backoff: listedBackoff([50]),
      sleep: async (ms) => void order.push(`sleep ${ms}`),
      retryable: () => true,
      onRetry: async (attempt) => void order.push(`retry ${attempt}`),
    });
    expect(order).toEqual(['retry 1', 'sleep 50']);
  });
});
