/** How output is laid out: the width to fit (Infinity when not printing to a terminal) and whether to colour. */
export interface Layout {
  readonly width: number;
  readonly color: boolean;
}

/** No width limit and no colour: what pipes, files and `--json`-less scripts get. */
export const PLAIN: Layout = { width: Number.POSITIVE_INFINITY, color: false };

/** The marker a cell cut to fit ends with. */
export const CUT_MARKER = '…';

const GAP = 2;
/** A column is never squeezed below this (or its natural width, when smaller), so every column stays legible. */
const MIN_COLUMN = 6;

/** `text` in bold when colour is on (ANSI SGR). */
export function bold(text: string, layout: Layout): string {
  return layout.color ? `\u001b[1m${text}\u001b[22m` : text;
}

/** `text` in red when colour is on: what needs a person (broken chains, failed rollbacks). */
export function red(text: string, layout: Layout): string {
  return layout.color ? `\u001b[31m${text}\u001b[39m` : text;
}

/** `text` cut to `width` characters, ending with the cut marker when something was left out. */
export function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 0 ? '' : `${text.slice(0, width - 1)}${CUT_MARKER}`;
}

/**
 * The column widths: natural ones, then the widest column narrowed one character at a time until the table fits,
 * first down to the headers, and only when that is not enough down to `MIN_COLUMN`.
 */
function fitColumns(natural: readonly number[], headers: readonly string[], width: number): number[] {
  const widths = [...natural];
  let over = widths.reduce((sum, w) => sum + w, 0) + GAP * (widths.length - 1) - width;
  const shortest = natural.map((w) => Math.min(w, MIN_COLUMN));
  const headed = shortest.map((w, column) => Math.max(w, headers[column]?.length ?? 0));
  for (const floors of [headed, shortest]) {
    while (over > 0) {
      let widest = -1;
      for (const [column, w] of widths.entries()) {
        if (w > (floors[column] ?? 0) && (widest === -1 || w > (widths[widest] ?? 0))) widest = column;
      }
      if (widest === -1) break;
      widths[widest] = (widths[widest] ?? 0) - 1;
      over -= 1;
    }
  }
  return widths;
}

/**
 * A plain-text table: one header row, columns padded to their widest cell, two spaces apart. Wider than
 * `layout.width`, the widest columns are narrowed and their long cells cut with `…`.
 */
export function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  layout: Layout = PLAIN,
): string {
  const natural = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const widths = fitColumns(natural, headers, layout.width);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cut(cell, widths[column] ?? 0).padEnd(widths[column] ?? 0))
      .join(' '.repeat(GAP))
      .trimEnd();
  return [bold(line(headers), layout), ...rows.map(line)].join('\n');
}

/** `text` broken into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const at = space > 0 ? space : width;
    lines.push(rest.slice(0, at));
    rest = rest.slice(space > 0 ? at + 1 : at);
  }
  lines.push(rest);
  return lines;
}

/** `2026-11-23T12:00:00.123Z` as `2026-11-23 12:00:00Z`: seconds are enough for a person, and it stays UTC. */
export function when(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A cell for a value that may be missing. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Key-value lines, keys aligned; a value too long for `layout.width` wraps onto lines indented under it. */
export function fields(entries: readonly (readonly [string, string])[], layout: Layout = PLAIN): string {
  const width = Math.max(...entries.map(([key]) => key.length));
  const room = Math.max(layout.width - width - GAP, 20);
  const indent = ' '.repeat(width + GAP);
  return entries
    .map(([key, value]) => {
      const [first, ...more] = wrap(value, room);
      return [`${bold(key.padEnd(width), layout)}  ${first}`, ...more.map((line) => `${indent}${line}`)].join(
        '\n',
      );
    })
    .join('\n');
}

/** A decision's confidence; `-` when the engine refused before scoring it (it is 0 then). */
export function confidence(value: number): string {
  return value === 0 ? '-' : value.toFixed(2);
}
