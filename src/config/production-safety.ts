import { createHash } from 'node:crypto';
import { EXAMPLE_OPERATOR_TOKENS, EXAMPLE_SESSION_SECRET, weakTokenReason } from '../auth/token-strength.ts';
import { LastgoodError } from '../errors.ts';
import type { Config } from './types.ts';

const GENERATE = 'generate one with `openssl rand -base64 32`';

function problemsOf(config: Config): string[] {
  const problems: string[] = [];
  if (config.webhookTokens.length === 0 && config.webhookTokenSecret === null) {
    problems.push(
      'no webhook token is configured, so nothing could authenticate Cloud Monitoring. Fix: set ' +
        `LASTGOOD_WEBHOOK_TOKEN_SECRET=projects/P/secrets/S (rotation without restarts) or LASTGOOD_WEBHOOK_TOKENS; ${GENERATE}.`,
    );
  }
  // Problems name a token by its position, never by its value: this message goes to stderr and the logs.
  config.webhookTokens.forEach((token, index) => {
    const reason = weakTokenReason(token);
    if (reason !== null) {
      problems.push(
        `LASTGOOD_WEBHOOK_TOKENS[${index}] ${reason}. Fix: use a secret of your own; ${GENERATE}.`,
      );
    }
  });
  if (config.operatorTokens.length === 0) {
    problems.push(
      'LASTGOOD_OPERATOR_TOKENS is empty, so no person could acknowledge, roll back or unfreeze. Fix: add ' +
        'name:role:sha256hex entries, the hash from `printf %s "$TOKEN" | sha256sum`.',
    );
  }
  const exampleHashes = new Set(
    EXAMPLE_OPERATOR_TOKENS.map((token) => createHash('sha256').update(token).digest('hex')),
  );
  for (const token of config.operatorTokens) {
    if (exampleHashes.has(token.sha256)) {
      problems.push(
        `LASTGOOD_OPERATOR_TOKENS entry "${token.name}" is the hash of the published example token. Fix: ` +
          `hash a secret of your own (${GENERATE}).`,
      );
    }
  }
  if (config.http.corsOrigins.includes('*')) {
    problems.push(
      'LASTGOOD_CORS_ORIGINS contains "*", which lets any web page call the operator API. Fix: list the exact ' +
        'origins of your dashboards (https://ops.example.com), or leave it unset.',
    );
  }
  if (config.ui.sessionSecret === null) {
    problems.push(
      'LASTGOOD_SESSION_SECRET is not set, so status-page sessions would end on every restart and differ between ' +
        `replicas. Fix: set it to at least 32 random characters; ${GENERATE}.`,
    );
  } else if (config.ui.sessionSecret === EXAMPLE_SESSION_SECRET) {
    problems.push(
      'LASTGOOD_SESSION_SECRET is the published example from examples/lastgood.env, so anyone could forge a ' +
        `status-page session. Fix: use a secret of your own; ${GENERATE}.`,
    );
  }
  const emulators = Object.entries(config.emulators).filter(([, host]) => host !== null);
  if (emulators.length > 0) {
    problems.push(
      `an emulator host is set (${emulators.map(([api]) => api).join(', ')}), so rollbacks would go to a local ` +
        'fake over plaintext. Fix: unset CLOUD_RUN_EMULATOR_HOST, CLOUD_DEPLOY_EMULATOR_HOST, SECRET_MANAGER_EMULATOR_HOST and MONITORING_EMULATOR_HOST.',
    );
  }
  // A look-alike variable means something meant for lastgood is being ignored: in production, nobody reads warnings.
  problems.push(...config.warnings);
  return problems;
}

/**
 * Refuses, under `NODE_ENV=production`, configurations that would let someone without a credential change
 * production traffic. Every problem is listed with its fix, so one failed start shows them all.
 */
export function assertProductionSafe(config: Config): void {
  if (!config.production) return;
  const problems = problemsOf(config);
  if (problems.length === 0) return;
  throw new LastgoodError(
    'LASTGOOD_ERR_CONFIG',
    `Refusing to start with NODE_ENV=production:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
  );
}
