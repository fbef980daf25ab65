import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_PATH, renderOpenApi } from '../scripts/openapi.ts';
import { ERROR_CODES } from '../src/errors.ts';

describe('openapi.yaml', () => {
  it('matches what the route schemas generate (run `npm run openapi` after changing a route)', () => {
    expect(readFileSync(OPENAPI_PATH, 'utf8')).toBe(renderOpenApi());
  });
});

describe('error catalogue', () => {
  const apiDoc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');

  it('documents every error code in docs/api.md', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(apiDoc, code).toContain(`\`${code}\``);
  });

  it('uses codes that are unique and prefixed', () => {
    const codes = Object.keys(ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^LASTGOOD_ERR_[A-Z_]+$/);
  });
});
