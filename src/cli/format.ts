/** A plain-text table: one header row, columns padded to their widest cell, two spaces apart. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
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

/** Key-value lines, keys aligned. */
export function fields(entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

/** A decision's confidence; `-` when the engine refused before scoring it (it is 0 then). */
export function confidence(value: number): string {
  return value === 0 ? '-' : value.toFixed(2);
}
