/**
 * Environment variables that look like one lastgood reads but are not it: a `DATABSE_URL` typo would quietly
 * leave lastgood on SQLite, a lowercase `lastgood_enabled` would leave the kill switch at its default.
 */

/** Within this many edits of a lastgood variable's name, a name is taken for a misspelling of it. */
const MAX_EDITS = 2;

/** "LASTGOOD", "LAST_GOOD", "LASTGOD", "last-good"... at the start of a name, in any case. */
const LASTGOOD_ISH = /^LAST[^A-Z0-9]?GOO?D/;

/** Levenshtein distance, giving up (returning `limit + 1`) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    if (Math.min(...current) > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/** The known name `name` is probably meant to be, or null when it looks like none of them. */
function meantFor(name: string, known: ReadonlySet<string>): string | null {
  const upper = name.toUpperCase();
  if (known.has(upper)) return upper;
  // Only lastgood's own names are matched loosely: PORT and HOST are two edits from HOME and POST.
  let nearest: string | null = null;
  let nearestEdits = MAX_EDITS + 1;
  for (const key of known) {
    if (!key.startsWith('LASTGOOD_') && key !== 'DATABASE_URL' && !key.endsWith('_EMULATOR_HOST')) continue;
    const edits = editDistance(upper, key, MAX_EDITS);
    if (edits < nearestEdits) {
      nearest = key;
      nearestEdits = edits;
    }
  }
  if (nearest !== null) return nearest;
  return LASTGOOD_ISH.test(upper) ? 'a LASTGOOD_ variable' : null;
}

/**
 * One warning for each variable in `env` that looks like one of `known` (same name in another case, a near
 * misspelling of lastgood's own, or a lastgood-ish prefix) without being exactly one. Names only: values may be
 * credentials. `ignored` says which exact names are someone else's (the emulator's `LASTGOOD_EMULATOR_*`).
 */
export function lookAlikeWarnings(
  env: Readonly<Record<string, string | undefined>>,
  known: ReadonlySet<string>,
  ignored: (name: string) => boolean,
): string[] {
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    // Exact LASTGOOD_ names that are not known are refused outright by the schema, not warned about.
    if (value === undefined || known.has(name) || ignored(name) || name.startsWith('LASTGOOD_')) continue;
    const meant = meantFor(name, known);
    if (meant === null) continue;
    warnings.push(
      meant.startsWith('a ')
        ? `${name} looks like ${meant}, but lastgood reads no variable of that name, so it is ignored. Fix: ` +
            'use a name from docs/configuration.md or unset it.'
        : `${name} looks like ${meant}, but is not it, so lastgood ignores it. Fix: rename it to ${meant} or unset it.`,
    );
  }
  return warnings;
}
