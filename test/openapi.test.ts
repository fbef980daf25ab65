import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_PATH, renderOpenApi } from '../scripts/openapi.ts';
import { ROLLBACK_ERROR_CODES } from '../src/domain/rollback.ts';
import { ERROR_CODES } from '../src/errors.ts';

describe('openapi.yaml', () => {
  it('matches what the route schemas generate (run `npm run openapi` after changing a route)', () => {
    expect(readFileSync(OPENAPI_PATH, 'utf8')).toBe(renderOpenApi());
  });
});

describe('error catalogue', () => {
  const apiDoc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');

  /** The codes in the first column of the table under `## heading` in docs/api.md. */
  const documented = (heading: string) => {
    const section = apiDoc.split(/^## /m).find((part) => part.startsWith(`${heading}\n`)) ?? '';
    return [...section.matchAll(/^\| `([A-Z_]+)`/gm)].map((match) => match[1]!);
  };

  it('documents every API error code in docs/api.md, and only codes that exist', () => {
    expect(documented('Error codes').sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('documents every rollback error code in docs/api.md, and only codes that exist', () => {
    expect(documented('Rollback error codes').sort()).toEqual([...ROLLBACK_ERROR_CODES].sort());
  });

  it('uses codes that are unique and prefixed', () => {
    const codes = Object.keys(ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^LASTGOOD_ERR_[A-Z_]+$/);
  });
});
