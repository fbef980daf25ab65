import { z } from 'zod';

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses "500ms", "10s", "30m", "1h", "3d" into milliseconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
}

/**
 * The range a duration setting must lie in, as written in the docs ("10ms", "1h"). Every maximum stays far below
 * 2^31-1 ms (24.8 days), past which Node's timers fire after 1 ms instead.
 */
export interface DurationRange {
  min: string;
  max: string;
}

/** Why `ms` is outside `range`, or null when it is inside. */
export function durationOutside(ms: number, range: DurationRange): string | null {
  const min = parseDuration(range.min) ?? 0;
  const max = parseDuration(range.max) ?? 0;
  return ms >= min && ms <= max ? null : `must be between ${range.min} and ${range.max}`;
}

/** A zod field for a duration setting in `range`, in milliseconds. */
export function duration(range: DurationRange) {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration like 500ms, 10s, 30m, 1h or 3d` });
      return z.NEVER;
    }
    const outside = durationOutside(ms, range);
    if (outside !== null) {
      ctx.addIssue({ code: 'custom', message: `${outside} (got ${text.trim()})` });
      return z.NEVER;
    }
    return ms;
  });
}
