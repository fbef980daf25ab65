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
