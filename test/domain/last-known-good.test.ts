import { describe, expect, it } from 'vitest';
import { findLastKnownGood, type LastKnownGoodInput } from '../../src/domain/last-known-good.ts';

const T = (minutes: number) => new Date(Date.UTC(2026, 10, 23, 12, 0) + minutes * 60_000);

const revisions = [
  { name: 'svc-00001-aaa', ready: true, createdAt: T(-300) },
  { name: 'svc-00002-bbb', ready: true, createdAt: T(-200) },
  { name: 'svc-00003-ccc', ready: false, createdAt: T(-150) },
  { name: 'svc-00004-ddd', ready: true, createdAt: T(-10) },
];

function input(overrides: Partial<LastKnownGoodInput> = {}): LastKnownGoodInput {
  return {
    revisions,
    servingRevision: 'svc-00004-ddd',
    taggedRevision: null,
    history: [],
    incidents: [],
    minHealthyServingMs: 10 * 60_000,
    ...overrides,
  };
}

describe('findLastKnownGood', () => {
  it('prefers the Ready revision carrying the stable tag', () => {
    expect(findLastKnownGood(input({ taggedRevision: 'svc-00001-aaa' }))).toMatchObject({
      revision: 'svc-00001-aaa',
      rule: 'stable_tag',
    });
  });

  it('skips a stable tag on a revision that is not Ready', () => {
    expect(findLastKnownGood(input({ taggedRevision: 'svc-00003-ccc' })).revision).toBe('svc-00002-bbb');
  });

  it('never picks the serving revision, even when it carries the stable tag', () => {
    expect(findLastKnownGood(input({ taggedRevision: 'svc-00004-ddd' })).revision).not.toBe('svc-00004-ddd');
  });

  it('takes the revision that last served 100% long enough without an incident', () => {
    const history = [
      { observedAt: T(-290), fullRevision: 'svc-00001-aaa' },
      { observedAt: T(-200), fullRevision: 'svc-00001-aaa' },
      { observedAt: T(-190), fullRevision: 'svc-00002-bbb' },
      { observedAt: T(-185), fullRevision: 'svc-00002-bbb' },
      { observedAt: T(-5), fullRevision: 'svc-00004-ddd' },
    ];
    // svc-00002 served only 5 minutes, so the longer, older svc-00001 interval is the known good one.
    expect(findLastKnownGood(input({ history }))).toMatchObject({
      revision: 'svc-00001-aaa',
      rule: 'traffic_history',
    });
  });

  it('does not trust a serving interval during which an incident was open', () => {
    const history = [
      { observedAt: T(-290), fullRevision: 'svc-00001-aaa' },
      { observedAt: T(-200), fullRevision: 'svc-00001-aaa' },
    ];
    const incidents = [{ startedAt: T(-250), endedAt: T(-240) }];
    expect(findLastKnownGood(input({ history, incidents }))).toMatchObject({
      revision: 'svc-00002-bbb',
      rule: 'previous_ready',
    });
  });

  it('falls back to the newest Ready revision older than the serving one', () => {
    expect(findLastKnownGood(input())).toMatchObject({ revision: 'svc-00002-bbb', rule: 'previous_ready' });
  });

  it('finds nothing when only the serving revision is Ready', () => {
    const result = findLastKnownGood(
      input({
        revisions: [revisions[2]!, revisions[3]!],
        history: [{ observedAt: T(-5), fullRevision: 'svc-00004-ddd' }],
      }),
    );
    expect(result.revision).toBeNull();
    expect(result.explanation).toMatch(/no Ready revision/);
  });
});
