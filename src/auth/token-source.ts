/**
 * Where valid webhook tokens come from (environment today, Secret Manager too). Several may be valid at once, so a
 * token can be rotated without a gap.
 */
export interface TokenSource {
  /** The same list (not changed in place) until the tokens change: callers may keep what they derive from it. */
  tokens(): readonly string[];
  /**
   * Told when a presented token matched none, so a source may read its tokens again (at a rate it bounds).
   * Resolves true once it has, when the token is worth checking again.
   */
  onMiss(): Promise<boolean>;
  /**
   * Shown in /readyz: `ok` when the source serves fresh tokens; `ready` false when no alert could get in (no
   * usable token), which makes /readyz 503. Stale tokens still let alerts in, so they are not unready.
   */
  health(): TokenSourceHealth;
}

/** A token source's state, as /readyz reports it. */
export interface TokenSourceHealth {
  ok: boolean;
  ready: boolean;
  detail: string;
}

/** Tokens fixed at start, from `LASTGOOD_WEBHOOK_TOKENS`. */
export function staticTokenSource(tokens: readonly string[]): TokenSource {
  return {
    tokens: () => tokens,
    onMiss: async () => false,
    // None configured is a choice (intake by Pub/Sub only; production refuses it), not an outage.
    health: () => ({ ok: true, ready: true, detail: `${tokens.length} token(s) from the environment` }),
  };
}
