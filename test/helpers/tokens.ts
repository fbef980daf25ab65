/**
 * Every credential the tests use, in one light module: test apps are configured with them, and the run's global
 * teardown (test/global-setup.ts) fails the run if any of them reached a log line.
 */
export const WEBHOOK_TOKEN = 'wh-test-token-0123456789abcdef0123456789';
export const OLD_WEBHOOK_TOKEN = 'wh-old-token-abcdef0123456789abcdef012345';
export const OPERATOR_TOKEN = 'op-test-token-0123456789abcdef0123456789';
export const VIEWER_TOKEN = 'viewer-test-token-0123456789abcdef01234567';
export const ADMIN_TOKEN = 'admin-test-token-0123456789abcdef012345678';
/** Presented by tests that check a wrong token is refused: a guess must not be logged either. */
export const WRONG_TOKEN = 'wrong-test-token-0123456789abcdef01234567';

export const TEST_TOKENS: readonly string[] = [
  WEBHOOK_TOKEN,
  OLD_WEBHOOK_TOKEN,
  OPERATOR_TOKEN,
  VIEWER_TOKEN,
  ADMIN_TOKEN,
  WRONG_TOKEN,
];
