import { describe, expect, it } from 'vitest';
import { isLastgoodError } from '../../src/errors.ts';
import { callGoogle, type GoogleCallPolicy } from '../../src/targets/google-call.ts';

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
});
