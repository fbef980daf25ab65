import { describe, expect, it } from 'vitest';
import { warmJudgement } from '../../src/http/warm-up.ts';

describe('warming the judgement', () => {
  it('judges its made-up bad release to roll back, and shows the verdict with its per-minute series', () => {
    const view = warmJudgement();

    // A rollback verdict over telemetry that was read: every part of the status view's judgement was compiled.
    expect(view).toMatchObject({ verdict: 'rollback', reason: 'ROLLBACK' });
    expect(Object.keys(view.series ?? {}).sort()).toEqual(['warm-up-00001-good', 'warm-up-00002-bad']);
    expect(view.series?.['warm-up-00002-bad']).toHaveLength(10);
  });
});
