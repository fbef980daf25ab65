import { describe, expect, it } from 'vitest';
import { isLastgoodError } from '../../src/errors.ts';
import {
  allPages,
  type CallBudget,
  callGoogle,
  callOptions,
  type GoogleCallPolicy,
  pollUntil,
} from '../../src/targets/google-call.ts';

function policy(slept: number[]): GoogleCallPolicy {
  return {
    deadlineMs: 1000,
    retryDelaysMs: [5000, 10_000, 30_000],
    pollMs: 10,
    completionTimeoutMs: 1000,
    sleep: async (ms) => {
      slept.push(ms);
    },
  };
}

function grpcError(code: number): Error {
  return Object.assign(new Error(`grpc ${code}`), { code });
}

describe('callGoogle', () => {
  it('retries UNAVAILABLE with the configured backoff, then succeeds', async () => {
    const slept: number[] = [];
    const retries: number[] = [];
    let calls = 0;
    const result = await callGoogle(
      'GetService',
      policy(slept),
      async () => {
        calls += 1;
        if (calls <= 2) throw grpcError(14);
        return 'ok';
      },
      async (attempt) => {
        retries.push(attempt);
      },
    );
    expect(result).toBe('ok');
    expect(slept).toEqual([5000, 10_000]);
    expect(retries).toEqual([1, 2]);
  });

  it('gives up after the last delay and names the method and code', async () => {
    const slept: number[] = [];
    const failing = callGoogle(
      'UpdateService',
      policy(slept),
      async () => Promise.reject(grpcError(4)),
      async () => {},
    );
    const error = await failing.catch((caught: unknown) => caught);
    expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_GOOGLE_API');
    expect(isLastgoodError(error) && error.details).toEqual({ method: 'UpdateService', grpcCode: 4 });
    expect(slept).toEqual([5000, 10_000, 30_000]);
  });

  it('does not retry errors that will not go away', async () => {
    const slept: number[] = [];
    await expect(
      callGoogle(
        'UpdateService',
        policy(slept),
        async () => Promise.reject(grpcError(10)),
        async () => {},
      ),
    ).rejects.toMatchObject({ details: { grpcCode: 10 } });
    expect(slept).toEqual([]);
  });

  it('makes no retry whose wait would end past the budget', async () => {
    const slept: number[] = [];
    const budget: CallBudget = { now: () => new Date(0), endsAt: 12_000 };
    const error = await callGoogle(
      'GetRollout',
      policy(slept),
      async () => Promise.reject(grpcError(14)),
      async () => {},
      budget,
    ).catch((caught: unknown) => caught);
    expect(isLastgoodError(error) && error.code).toBe('LASTGOOD_ERR_GOOGLE_API');
    // 5 s and 10 s each fit in the 12 s left at time 0 (the fake clock does not move); 30 s does not.
    expect(slept).toEqual([5000, 10_000]);
  });
});

describe('allPages', () => {
  it('follows every page a list method hands back, in order, and stops at the last', async () => {
    const pages = new Map([
      ['', { items: ['a', 'b'], next: 'p2' }],
      ['p2', { items: ['c'], next: 'p3' }],
      ['p3', { items: [], next: null }],
    ]);
    const asked: string[] = [];
    const items = await allPages({ pageToken: '' }, async (request) => {
      asked.push(request.pageToken);
      const page = pages.get(request.pageToken)!;
      return [page.items, page.next === null ? null : { pageToken: page.next }, {}];
    });
    expect(items).toEqual(['a', 'b', 'c']);
    expect(asked).toEqual(['', 'p2', 'p3']);
  });
});

describe('callOptions', () => {
  const at = (nowMs: number): CallBudget => ({ now: () => new Date(nowMs), endsAt: 10_000 });

  it.each([
    { case: 'no budget', budget: null, timeout: 1000 },
    { case: 'plenty left', budget: at(0), timeout: 1000 },
    { case: 'less than a deadline left', budget: at(9_700), timeout: 300 },
    // Once the budget is spent the only calls made are the last reads of the truth: they get the whole deadline.
    { case: 'budget spent', budget: at(12_000), timeout: 1000 },
  ])('cuts the deadline to the time left: $case', ({ budget, timeout }) => {
    expect(callOptions(policy([]), budget)).toEqual({ timeout, retry: null });
  });
});

describe('pollUntil', () => {
  it('asks again after a read error in doubt, and gives the last word to timedOut once the budget is spent', async () => {
    let nowMs = 0;
    const progress: unknown[] = [];
    const job = {
      now: () => new Date(nowMs),
      endsAt: 50,
      progress: async (step: string, detail: Record<string, unknown>) => {
        progress.push([step, detail]);
      },
    };
    const answer = await pollUntil(
      {
        ...policy([]),
        sleep: async (ms) => {
          nowMs += ms;
        },
      },
      job,
      async () => {
        throw grpcError(4);
      },
      async () => 'read once more',
    );
    expect(answer).toBe('read once more');
    expect(progress).toEqual(Array.from({ length: 5 }, () => ['poll_error', { method: null, grpcCode: 4 }]));
  });

  it("ends at once on an error that is Google's answer, not trouble answering", async () => {
    const job = { now: () => new Date(0), endsAt: 50 };
    await expect(
      pollUntil(
        policy([]),
        job,
        async () => Promise.reject(grpcError(7)),
        async () => 'never',
      ),
    ).rejects.toMatchObject({ code: 7 });
  });
});
