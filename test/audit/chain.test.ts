import { describe, expect, it } from 'vitest';
import {
  type AuditRow,
  auditHash,
  canonicalJson,
  GENESIS_HASH,
  verifyAuditChain,
} from '../../src/audit/chain.ts';

function chain(length: number): AuditRow[] {
  const rows: AuditRow[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= length; seq++) {
    const content = {
      seq,
      at: 1_700_000_000_000 + seq,
      type: 'decision',
      severity: 'info',
      target: 'checkout',
      decisionId: `dec_${seq}`,
      actor: 'lastgood',
      data: canonicalJson({ reason: 'ROLLBACK', seq }),
    };
    const hash = auditHash(content, prevHash);
    rows.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return rows;
}

describe('canonicalJson', () => {
  it('writes the same data as the same bytes whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [2, { e: 0, f: 1 }] }, b: 1 }),
    );
  });
});

describe('verifyAuditChain', () => {
  it('reads a long chain page by page', async () => {
    const rows = chain(2_500);
    const last = rows.at(-1)!;
    const result = await verifyAuditChain({
      rows: async (afterSeq, limit) => rows.filter((row) => row.seq > afterSeq).slice(0, limit),
      head: async () => ({ seq: last.seq, hash: last.hash }),
    });
    expect(result).toEqual({ ok: true, rows: 2_500 });
  });

  it('is not fooled into a false alarm by rows appended while it reads', async () => {
    const rows = chain(10);
    // Rows 6 to 10 committed (with the head) after the head was first read.
    const heads = [5, 10];
    const result = await verifyAuditChain({
      rows: async (afterSeq, limit) => rows.filter((row) => row.seq > afterSeq).slice(0, limit),
      head: async () => {
        const seq = heads.shift() ?? 10;
        return { seq, hash: rows[seq - 1]!.hash };
      },
    });
    expect(result).toEqual({ ok: true, rows: 10 });
  });

  it('reports an empty log whose head lost its genesis hash', async () => {
    expect(
      await verifyAuditChain({ rows: async () => [], head: async () => ({ seq: 0, hash: '' }) }),
    ).toMatchObject({ ok: false, firstBrokenRow: { seq: 0, problem: 'head' } });
  });
});
