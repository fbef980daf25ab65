/**
 * `npm run dev`: lastgood and the bundled Google API emulator together, on free ports, with the example policy and
 * the example (published) tokens, so a clone works with no Google account and no setup. lastgood runs under
 * `node --watch` and restarts on every change to its source; Ctrl-C (SIGINT) or SIGTERM stops both.
 *
 * LASTGOOD_EMULATOR_PORT and LASTGOOD_EMULATOR_ADMIN_PORT pin the emulator's ports; LASTGOOD_DATA_DIR keeps the
 * store (else a temp directory, removed at exit: emulator and store start fresh together).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { EXAMPLE_OPERATOR_TOKENS } from '../src/auth/token-strength.ts';
import { startEmulator } from '../src/emulator/emulator.ts';
import { loadFixtureFile } from '../src/emulator/fixture.ts';
import { freePort, waitUntilReady } from './lib/processes.ts';

const REPO = new URL('../', import.meta.url).pathname;
const say = (text = '') => process.stdout.write(`${text}\n`);

/** examples/lastgood.env, and the plain operator token whose hash it configures (published beside it). */
function exampleSettings() {
  const env = parseEnv(readFileSync(join(REPO, 'examples/lastgood.env'), 'utf8'));
  const [name, role, hash] = (env.LASTGOOD_OPERATOR_TOKENS ?? '').split(',')[0]!.split(':');
  const operatorToken = EXAMPLE_OPERATOR_TOKENS.find(
    (token) => createHash('sha256').update(token).digest('hex') === hash,
  );
  const webhookToken = (env.LASTGOOD_WEBHOOK_TOKENS ?? '').split(',')[0]!.trim();
  if (operatorToken === undefined || webhookToken === '')
    throw new Error('examples/lastgood.env no longer configures the published example tokens');
  return { env, webhookToken, operator: { name, role, token: operatorToken } };
}

const port = (value: string | undefined) => (value === undefined ? 0 : Number(value));

async function main(): Promise<void> {
  const example = exampleSettings();
  const emulator = await startEmulator({
    fixture: await loadFixtureFile(join(REPO, 'examples/emulator-fixture.yaml')),
    port: port(process.env.LASTGOOD_EMULATOR_PORT),
    adminPort: port(process.env.LASTGOOD_EMULATOR_ADMIN_PORT),
  });
  const ownDataDir = process.env.LASTGOOD_DATA_DIR === undefined;
  const dataDir = process.env.LASTGOOD_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'lastgood-dev-'));
  const baseUrl = `http://127.0.0.1:${await freePort()}`;
  const lastgood = spawn(process.execPath, ['--watch', 'src/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      ...example.env,
      PORT: new URL(baseUrl).port,
      HOST: '127.0.0.1',
      LASTGOOD_DATA_DIR: dataDir,
      CLOUD_RUN_EMULATOR_HOST: emulator.host,
      CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
      MONITORING_EMULATOR_HOST: emulator.host,
      SECRET_MANAGER_EMULATOR_HOST: emulator.host,
    },
    // lastgood's log lines and --watch's restarts show here, as `npm start`'s would.
    stdio: ['ignore', 'inherit', 'inherit'],
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`dev: ${signal}, stopping lastgood and the emulator`);
    if (lastgood.exitCode === null && lastgood.signalCode === null) {
      const exited = new Promise((resolve) => lastgood.once('exit', resolve));
      lastgood.kill('SIGTERM');
      await exited;
    }
    await emulator.stop();
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  await waitUntilReady(baseUrl, lastgood, 'the output above', 30_000);
  const webhookUrl = `${baseUrl}/webhook/error-budget-alert?auth_token=${example.webhookToken}`;
  say(
    [
      '',
      `dev: lastgood  ${baseUrl}  (policy examples/lastgood.yaml, SQLite in ${dataDir}; API reference ${baseUrl}/docs)`,
      `dev: emulator  gRPC ${emulator.host}, admin ${emulator.adminUrl} (GET /state, GET /calls, POST /faults, POST /reset)`,
      `dev: tokens    webhook  ${example.webhookToken}`,
      `dev:           operator ${example.operator.token}  (${example.operator.name}, ${example.operator.role})`,
      'dev: the CLI, in another terminal:',
      `  export LASTGOOD_URL=${baseUrl} LASTGOOD_TOKEN=${example.operator.token}`,
      '  node bin/lastgood.js recent --hours 1',
      'dev: fire the SLO fast-burn alert for checkout (its newest revision is the bad one; try storefront too):',
      `  sed -e "s/1700000000/$(date +%s)/" -e "s/demo-incident/dev-$(date +%s)/g" runbooks/demo/fast-burn-alert.json | curl -sS -H 'content-type: application/json' --data-binary @- '${webhookUrl}'`,
      'dev: Ctrl-C stops both.',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`dev: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
