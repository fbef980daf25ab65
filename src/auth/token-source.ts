/**
 * Where valid webhook tokens come from (environment today, Secret Manager too). Several may be valid at once, so a
 * token can be rotated without a gap.
 */
export interface TokenSource {
  tokens(): readonly string[];
  /** Told when a presented token matched none, so a source may refresh (at a rate it chooses). */
  onMiss(): void;
  /** Whether the source is serving fresh tokens; shown in /readyz. */
  health(): { ok: boolean; detail: string };
}

/** Tokens fixed at start, from `LASTGOOD_WEBHOOK_TOKENS`. */
export function staticTokenSource(tokens: readonly string[]): TokenSource {
  return {
    tokens: () => tokens,
    onMiss: () => {},
    health: () => ({ ok: true, detail: `${tokens.length} token(s) from the environment` }),
  };
}
