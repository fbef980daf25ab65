/** Webhook tokens shorter than this are guessable enough to matter for a service that moves production traffic. */
export const MIN_PRODUCTION_TOKEN_LENGTH = 32;

/**
 * Credentials published in `examples/lastgood.env` and the README. Anyone can read them, so production refuses
 * them; a test keeps this list and the example file in step.
 */
export const EXAMPLE_WEBHOOK_TOKENS: readonly string[] = [
  'example-webhook-token-replace-me-0123456789abcdef',
];
export const EXAMPLE_OPERATOR_TOKENS: readonly string[] = [
  'example-operator-token-replace-me-0123456789abcd',
];
/** The session secret `examples/lastgood.env` publishes for the status page on a laptop. */
export const EXAMPLE_SESSION_SECRET = 'example-session-secret-replace-me-0123456789abcdef';

/**
 * Why a webhook token is too weak for production (published, or too short), or null. Used for the environment's
 * tokens at start and for each Secret Manager version as it is loaded.
 */
export function weakTokenReason(token: string): string | null {
  if (EXAMPLE_WEBHOOK_TOKENS.includes(token))
    return 'is the published example token from examples/lastgood.env';
  if (token.length < MIN_PRODUCTION_TOKEN_LENGTH) {
    return `is ${token.length} characters; production needs at least ${MIN_PRODUCTION_TOKEN_LENGTH}`;
  }
  return null;
}

/** The longest webhook token a sender can present: the webhook's `?auth_token=` takes at most this many characters. */
export const MAX_WEBHOOK_TOKEN_LENGTH = 512;

/**
 * Why a webhook token could never authenticate, or null: empty (whitespace is trimmed first), longer than the
 * webhook accepts, or holding characters that do not appear as-is in a URL query or a header.
 */
export function unusableTokenReason(token: string): string | null {
  if (token.length === 0) return 'is empty';
  if (token.length > MAX_WEBHOOK_TOKEN_LENGTH) {
    return `is ${token.length} characters; a sender can present at most ${MAX_WEBHOOK_TOKEN_LENGTH}`;
  }
  if (/[^\x21-\x7e]/.test(token)) {
    return 'holds whitespace, a control character or non-ASCII text; only visible ASCII goes as-is in a URL query or a header';
  }
  return null;
}
