import { describe, expect, it } from 'vitest';
import { newId } from '../../src/store/ids.ts';

describe('newId', () => {
  it('makes prefixed ids in the ULID layout that sort in the order they were made, within and across milliseconds', () => {
    const start = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 3_000 }, (_, i) => newId('dec', start + Math.floor(i / 7)));
    for (const id of ids) expect(id).toMatch(/^dec_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // The first ten digits are the milliseconds (2026-01-01), as ULIDs have them.
    expect(ids[0]!.slice(4, 14)).toBe('01kdvdna00');
  });

  it('keeps ids made for one millisecond in order when ids for another millisecond are made between them', () => {
    // A rollback's steps written together: `judged` and `lkg_selected` at the same time, the service read (and its
    // traffic observation) stamped earlier, with the time GetService answered, made between them.
    // The random part is drawn afresh for each millisecond, so each round has an even chance of showing a break.
    for (let round = 0; round < 32; round++) {
      const now = Date.UTC(2026, 0, 1, 12) + round * 1_000;
      const judged = newId('evt', now);
      newId('obs', now - 40);
      newId('evt', now - 40);
      const lkgSelected = newId('evt', now);
      const apiCallIssued = newId('evt', now);

      expect([apiCallIssued, lkgSelected, judged].sort()).toEqual([judged, lkgSelected, apiCallIssued]);
    }
  });
});
