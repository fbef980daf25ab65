import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkStructure, MAX_LINES, readSources, type SourceFile } from '../scripts/structure.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('the structure of src/', () => {
  it('keeps the domain pure, SQL in the store, Google calls in targets, and no circle or overlong file', () => {
    const violations = checkStructure(readSources(ROOT), { maxLines: MAX_LINES });
    expect(violations).toEqual([]);
  });
});

describe('the structure check', () => {
  const file = (path: string, ...lines: string[]): SourceFile => ({ path, text: `${lines.join('\n')}\n` });

  it('reports a domain import from outside, an import circle, SQL, Google and store imports, and a long file', () => {
    const files = [
      file(
        'src/domain/plan.ts',
        "import type { Store } from '../store/store.ts';",
        '// SELECT * FROM comments does not count',
        'export const plan = (store: Store) => store;',
      ),
      file(
        'src/store/store.ts',
        "import { plan } from '../domain/plan.ts';",
        "export const ROWS = 'SELECT id FROM rows';",
      ),
      file(
        'src/http/routes.ts',
        'const columns = "id";',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: this is source text holding a template literal
        'export const q = `SELECT ${columns}\n  FROM decisions`;',
      ),
      file('src/http/oidc.ts', "import { OAuth2Client } from 'google-auth-library';"),
      file(
        'src/targets/run.ts',
        "import { v2 } from '@google-cloud/run';",
        "import type { Store } from '../store/store.ts';",
      ),
      file('src/long.ts', ...Array.from({ length: 6 }, (_, line) => `export const a${line} = ${line};`)),
    ];
    const violations = checkStructure(files, { maxLines: 5 });
    expect(violations.map(({ rule, file }) => `${rule} ${file}`).sort()).toEqual([
      'domain-pure src/domain/plan.ts',
      'google-in-targets src/http/oidc.ts',
      'max-lines src/long.ts',
      'no-circle src/domain/plan.ts',
      'sql-in-store src/http/routes.ts',
      'targets-no-store src/targets/run.ts',
    ]);
    expect(violations.find((violation) => violation.rule === 'no-circle')?.detail).toBe(
      'import circle: src/domain/plan.ts -> src/store/store.ts',
    );
  });

  it('counts a type-only import and a re-export in a circle', () => {
    const files = [
      file('src/a.ts', "import type { B } from './b.ts';", 'export type A = B;'),
      file('src/b.ts', "export type { C as B } from './c.ts';"),
      file('src/c.ts', "import type { A } from './a.ts';", 'export type C = A | null;'),
    ];
    expect(checkStructure(files, { maxLines: 500 })).toEqual([
      { rule: 'no-circle', file: 'src/a.ts', detail: 'import circle: src/a.ts -> src/b.ts -> src/c.ts' },
    ]);
  });

  it('does not read a quote inside a regular expression as the start of a string', () => {
    const files = [
      file(
        'src/http/quote.ts',
        "const QUOTE = /'/g;",
        "export const q = (t: string) => t.replace(QUOTE, 'SELECT');",
      ),
    ];
    expect(checkStructure(files, { maxLines: 500 })).toEqual([]);
  });
});
