import { cpus, loadavg, release, totalmem } from 'node:os';

/** One number the bench reports, with the target it is judged against when the issue sets one. */
export interface Metric {
  section: string;
  name: string;
  /** null when the measurement could not be taken; `note` says why. */
  value: number | null;
  unit: string;
  target?: { op: '>=' | '<='; value: number };
  note?: string;
}

export type Verdict = 'pass' | 'MISS' | 'FAILED' | '';

export function verdictOf(metric: Metric): Verdict {
  if (metric.value === null) return 'FAILED';
  if (metric.target === undefined) return '';
  const { op, value } = metric.target;
  return (op === '>=' ? metric.value >= value : metric.value <= value) ? 'pass' : 'MISS';
}

export function machineFacts() {
  const cores = cpus();
  return {
    cores: cores.length,
    cpu: cores[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${process.platform} ${release()} ${process.arch}`,
  };
}

/** The 1-minute load average: anything above zero before the bench starts is other work competing for the cores. */
export function loadAverage(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

/** Three significant figures at most, thousands grouped: the table is read by people. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function cell(metric: Metric): string {
  return metric.value === null ? 'FAILED' : `${formatNumber(metric.value)} ${metric.unit}`;
}

function targetCell(metric: Metric): string {
  return metric.target === undefined
    ? ''
    : `${metric.target.op} ${formatNumber(metric.target.value)} ${metric.unit}`;
}

/** The table as Markdown, so the same text goes to the terminal and into bench/README.md. */
export function renderTable(metrics: readonly Metric[]): string {
  const rows = metrics.map((metric) => [
    `${metric.section}: ${metric.name}`,
    cell(metric),
    targetCell(metric),
    verdictOf(metric),
    metric.note ?? '',
  ]);
  const header = ['metric', 'measured', 'target', 'result', 'notes'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]) => `| ${cells.map((text, i) => text.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
