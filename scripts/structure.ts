import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';

/** One source file: its path from the repository root (`src/domain/decide.ts`) and its text. */
export interface SourceFile {
  path: string;
  text: string;
}

/** A broken structure rule, as the check prints it. */
export interface Violation {
  rule: 'domain-pure' | 'sql-in-store' | 'google-in-targets' | 'targets-no-store' | 'no-circle' | 'max-lines';
  file: string;
  detail: string;
}

/** What one file imports: other files of the tree (resolved paths) and packages (bare specifiers). */
export interface FileImports {
  files: string[];
  packages: string[];
}

export interface StructureOptions {
  maxLines: number;
}

/** Reads every `.ts` file under `dir` (relative to `root`), paths in posix form from `root`. */
export function readSources(root: string, dir = 'src'): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (absolute: string) => {
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      const path = join(absolute, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        files.push({ path: relative(root, path).split('\\').join('/'), text: readFileSync(path, 'utf8') });
      }
    }
  };
  walk(join(root, dir));
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** Characters after which a `/` starts a regular expression literal rather than a division. */
const BEFORE_REGEX = new Set([
  '',
  '(',
  ',',
  '=',
  ':',
  '[',
  '!',
  '&',
  '|',
  '?',
  '{',
  '}',
  ';',
  '+',
  '-',
  '*',
  '<',
  '>',
]);

/**
 * Splits TypeScript text into code without comments and the text of its string and template literals. A small
 * scanner rather than the compiler: enough for import specifiers and SQL, which is all the rules read.
 */
export function scan(text: string): { code: string; literals: string[] } {
  const literals: string[] = [];
  let code = '';
  let i = 0;
  let last = '';
  /** Scans code until an unmatched `}` (inside a template's `${}`) or the end. */
  const scanCode = (inTemplate: boolean): void => {
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      const next = text[i + 1];
      if (c === '/' && next === '/') {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (c === '/' && next === '*') {
        const end = text.indexOf('*/', i + 2);
        i = end === -1 ? text.length : end + 2;
      } else if (c === "'" || c === '"') {
        const start = i;
        let value = '';
        for (i++; i < text.length && text[i] !== c && text[i] !== '\n'; i++) {
          if (text[i] === '\\') i++;
          value += text[i] ?? '';
        }
        i++;
        literals.push(value);
        code += text.slice(start, i);
        last = c;
      } else if (c === '`') {
        i++;
        code += '`';
        scanTemplate();
        code += '`';
        last = '`';
      } else if (c === '/' && BEFORE_REGEX.has(last)) {
        // A regular expression literal: skipped whole, so a quote inside it starts no string.
        for (i++; i < text.length && text[i] !== '/' && text[i] !== '\n'; i++) {
          if (text[i] === '\\') i++;
          else if (text[i] === '[')
            while (i < text.length && text[i] !== ']' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
        }
        i++;
        code += '/re/';
        last = '/';
      } else {
        if (c === '{') depth++;
        if (c === '}') {
          if (inTemplate && depth === 0) return;
          depth--;
        }
        code += c;
        if (!/\s/.test(c)) last = /[\w$]/.test(c) ? 'word' : c;
        // A keyword is a word, but a regex may follow `return` or `typeof`.
        if (/[\w$]/.test(c) && !/[\w$]/.test(text[i + 1] ?? '')) {
          const word = /[\w$]+$/.exec(code)?.[0];
          if (word === 'return' || word === 'typeof' || word === 'in' || word === 'of') last = '';
        }
        i++;
      }
    }
  };
  const scanTemplate = (): void => {
    let value = '';
    while (i < text.length && text[i] !== '`') {
      if (text[i] === '\\') {
        value += text.slice(i, i + 2);
        i += 2;
      } else if (text[i] === '$' && text[i + 1] === '{') {
        i += 2;
        // An interpolation stands in the literal as a placeholder, so `SELECT ${columns} FROM` still reads as SQL.
        value += ' x ';
        last = '';
        scanCode(true);
        i++;
      } else {
        value += text[i];
        i++;
      }
    }
    i++;
    literals.push(value);
  };
  scanCode(false);
  return { code, literals };
}

const IMPORT_FROM = /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g;
const SIDE_EFFECT_IMPORT = /(?:^|[\s;])import\s*['"]([^'"]+)['"]/g;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The specifiers a file imports or re-exports, type-only and dynamic imports included. */
export function specifiersOf(text: string): string[] {
  const { code } = scan(text);
  const found = new Set<string>();
  for (const pattern of [IMPORT_FROM, SIDE_EFFECT_IMPORT, DYNAMIC_IMPORT]) {
    for (const match of code.matchAll(pattern)) found.add(match[1]!);
  }
  return [...found];
}

/** Every file's imports, relative specifiers resolved to paths from the repository root. */
export function importGraph(files: readonly SourceFile[]): Map<string, FileImports> {
  const graph = new Map<string, FileImports>();
  for (const file of files) {
    const imports: FileImports = { files: [], packages: [] };
    for (const specifier of specifiersOf(file.text)) {
      if (specifier.startsWith('.')) {
        imports.files.push(posix.normalize(posix.join(posix.dirname(file.path), specifier)));
      } else {
        imports.packages.push(specifier);
      }
    }
    graph.set(file.path, imports);
  }
  return graph;
}

/** SQL statements as lastgood writes them; only the store may hold them. */
const SQL = /\bSELECT\b[\s\S]*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b|\bCREATE TABLE\b/;
const GOOGLE_PACKAGE = /^(@google-cloud\/|google-auth-library(\/|$))/;

const inFolder = (path: string, folder: string) => path.startsWith(`${folder}/`);

/** Import circles: every strongly connected group of two or more files, or a file importing itself (Tarjan). */
export function importCircles(graph: ReadonlyMap<string, FileImports>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let counter = 0;
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.files ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    if (group.length > 1 || graph.get(node)?.files.includes(node)) circles.push(group.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return circles;
}

function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

/** Checks the structure rules of `src/` (see CONTRIBUTING or issue 13) over the given files. */
export function checkStructure(files: readonly SourceFile[], options: StructureOptions): Violation[] {
  const graph = importGraph(files);
  const violations: Violation[] = [];
  for (const file of files) {
    const imports = graph.get(file.path)!;
    if (inFolder(file.path, 'src/domain')) {
      for (const target of [
        ...imports.files.filter((path) => !inFolder(path, 'src/domain')),
        ...imports.packages,
      ]) {
        violations.push({ rule: 'domain-pure', file: file.path, detail: `imports ${target}` });
      }
    }
    if (!inFolder(file.path, 'src/targets') && !inFolder(file.path, 'src/emulator')) {
      for (const name of imports.packages.filter((specifier) => GOOGLE_PACKAGE.test(specifier))) {
        violations.push({ rule: 'google-in-targets', file: file.path, detail: `imports ${name}` });
      }
    }
    if (inFolder(file.path, 'src/targets')) {
      for (const target of imports.files.filter((path) => inFolder(path, 'src/store'))) {
        violations.push({ rule: 'targets-no-store', file: file.path, detail: `imports ${target}` });
      }
    }
    if (!inFolder(file.path, 'src/store')) {
      const sql = scan(file.text).literals.find((literal) => SQL.test(literal));
      if (sql !== undefined) {
        violations.push({
          rule: 'sql-in-store',
          file: file.path,
          detail: `holds SQL: ${sql.trim().slice(0, 60)}`,
        });
      }
    }
    const lines = lineCount(file.text);
    if (lines > options.maxLines) {
      violations.push({
        rule: 'max-lines',
        file: file.path,
        detail: `${lines} lines (at most ${options.maxLines})`,
      });
    }
  }
  for (const circle of importCircles(graph)) {
    violations.push({ rule: 'no-circle', file: circle[0]!, detail: `import circle: ${circle.join(' -> ')}` });
  }
  return violations;
}

/** The limit on a file's length in `src/`. */
export const MAX_LINES = 500;
