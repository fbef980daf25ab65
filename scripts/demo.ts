/**
 * `npm run demo`: the whole story on a laptop, with no Google account and no network. Starts the bundled emulator
 * with a service whose newest revision is bad, starts lastgood on SQLite in a temp dir as its own process, fires a
 * real-shaped SLO burn-rate alert at it, and shows the evidence it judged and the rollback; then fires a second
 * alert and shows it refused. `npm run demo -- --cloud-deploy` tells the same story through a Cloud Deploy delivery
 * pipeline. `npm run demo -- --dependency-outage` burns a service that has not changed for days: lastgood holds,
 * shows why, and makes no mutating Google call.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { formatJudgement } from '../src/cli/commands.ts';
import { type Emulator, startEmulator } from '../src/emulator/emulator.ts';
import { loadFixtureFile } from '../src/emulator/fixture.ts';
import type { statusSchema } from '../src/http/schemas.ts';
import { burnRateAlert } from '../test/fixtures/alerts.ts';
import { freePort, waitUntilReady, waitUntilWarm } from './lib/processes.ts';

const SERVICE = 'projects/demo-project/locations/us-central1/services/checkout';
const PIPELINE = 'projects/demo-project/locations/us-central1/deliveryPipelines/storefront-pipeline';
/** When the demo first asks how the rollback went. */
const FIRST_POLL_MS = 100;
/** Enough runs of the emulator's answers for V8 to optimise them (`Emulator.warm`). */
const EMULATOR_WARM_ROUNDS = 12;
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const say = (text = '') => process.stdout.write(`${text}\n`);

type Status = z.infer<typeof statusSchema>;

/** Mutating Google calls, as the emulator logged them: a dry run (`validateOnly`) changes nothing. */
function mutatingCalls(emulator: Emulator): number {
  return emulator.calls
    .list()
    .filter((call) => ['UpdateService', 'RollbackTarget', 'UpdateDeliveryPipeline'].includes(call.method))
    .filter((call) => (call.request as { validateOnly?: boolean }).validateOnly !== true).length;
}

/** What differs between the stories: the emulator's seed, the target, and whether lastgood should act. */
interface Scenario {
  fixture: string;
  target: string;
  resource: string;
  /** What the story starts with, in one line. */
  premise: string;
  outcome: 'rollback' | 'hold';
  /** What is serving, in one line. */
  serving(emulator: Emulator): string;
}

function cloudRunTraffic(emulator: Emulator): string {
  const statuses = emulator.state.cloudRun.service(SERVICE)?.trafficStatuses ?? [];
  const traffic = statuses
    .filter((entry) => entry.percent > 0)
    .map((entry) => `${entry.revision} ${entry.percent}%`)
    .join(', ');
  return `traffic: ${traffic}`;
}

const CLOUD_RUN: Scenario = {
  fixture: 'emulator-fixture.yaml',
  target: 'checkout',
  resource: `emulated Cloud Run service ${SERVICE}`,
  premise:
    'A bad release is serving: checkout-00002-xyz went out 5 minutes ago and fails 20% of its requests',
  outcome: 'rollback',
  serving: cloudRunTraffic,
};

const DEPENDENCY_OUTAGE: Scenario = {
  fixture: 'emulator-fixture-dependency-outage.yaml',
  target: 'checkout',
  resource: `emulated Cloud Run service ${SERVICE}`,
  premise:
    'A dependency is down: checkout-00002-xyz has served healthily for 4 days; since 10 minutes ago half the ' +
    'requests fail, on it and alike on checkout-00001-abc',
  outcome: 'hold',
  serving: cloudRunTraffic,
};

const CLOUD_DEPLOY: Scenario = {
  fixture: 'emulator-fixture.yaml',
  target: 'storefront',
  resource: `emulated Cloud Deploy pipeline ${PIPELINE}, target production`,
  premise: 'A bad release is serving: rel-002',
  outcome: 'rollback',
  serving(emulator) {
    const pipeline = emulator.state.cloudDeploy.pipeline(PIPELINE);
    const production = pipeline?.targets.find((target) => target.targetId === 'production');
    const release = (production?.currentRelease ?? '').split('/').pop();
    return `production runs release ${release}; pipeline ${pipeline?.suspended ? 'SUSPENDED (frozen)' : 'active'}`;
  },
};

async function postAlert(baseUrl: string, token: string, payload: unknown) {
  const response = await fetch(`${baseUrl}/webhook/error-budget-alert?auth_token=${token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  if (response.status !== 202)
    throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { alertId: string; decisionId: string; action: string; reason: string };
}

async function status(baseUrl: string, operatorToken: string, decisionId: string): Promise<Status> {
  const response = await fetch(`${baseUrl}/rollback/status/${decisionId}`, {
    headers: { authorization: `Bearer ${operatorToken}` },
  });
  if (!response.ok) throw new Error(`status answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Status;
}

async function waitForOutcome(baseUrl: string, operatorToken: string, decisionId: string): Promise<Status> {
  const deadline = Date.now() + 20_000;
  // The rollback takes about 100 ms. Polling from the first millisecond would run the demo's HTTP client on the
  // same cores, and in the same event loop as the emulator, while lastgood makes the reads the demo times.
  await sleep(FIRST_POLL_MS);
  for (;;) {
    const current = await status(baseUrl, operatorToken, decisionId);
    if (current.rollback && !['queued', 'running'].includes(current.rollback.state)) return current;
    if (Date.now() > deadline) throw new Error(`rollback still ${current.rollback?.state} after 20 s`);
    await sleep(25);
  }
}

/**
 * One status read before the alert, as an operator's dashboard has made many: the demo's HTTP client would otherwise
 * run its first authorised GET, cold, in the middle of the rollback it times, and delay the emulator's answers.
 */
async function warmStatusReads(baseUrl: string, operatorToken: string): Promise<void> {
  const response = await fetch(`${baseUrl}/rollback/recent?hours=1`, {
    headers: { authorization: `Bearer ${operatorToken}` },
  });
  if (!response.ok) throw new Error(`recent answered ${response.status}: ${await response.text()}`);
  await response.json();
}

/** The evidence lastgood judged before it changed anything: the status API's `judgement`, as the CLI prints it. */
function printJudgement(judgement: Status['judgement']): void {
  if (judgement === null) {
    say('  (nothing was judged)');
    return;
  }
  for (const line of formatJudgement(judgement).split('\n')) say(`  ${line}`.trimEnd());
  const { change, onset } = judgement.summary;
  if (change === null || onset === null) return;
  const minutes = Math.round((Date.parse(onset) - Date.parse(change.at)) / 60_000);
  const gap = minutes >= 48 * 60 ? `${(minutes / 1440).toFixed(1)} days` : `${minutes} min`;
  say(
    minutes <= 1
      ? `  the errors began ${bold('the minute the suspect started serving')}`
      : `  the errors began ${bold(gap)} after the suspect started serving`,
  );
}

function printDecision(decision: Status['decision']): void {
  say(
    `  decision: ${bold(`${decision.action} / ${decision.reason}`)}, confidence ${decision.confidence.toFixed(3)}`,
  );
  for (const factor of decision.factors)
    say(`    - ${factor.name} = ${String(factor.value)}  (${factor.effect})`);
}

async function main(scenario: Scenario): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lastgood-demo-'));
  // test/demo.test.ts hands in the suite's tokens, which the run's log scan looks for; a person gets fresh ones.
  const webhookToken = process.env.DEMO_WEBHOOK_TOKEN ?? randomBytes(24).toString('hex');
  const operatorToken = process.env.DEMO_OPERATOR_TOKEN ?? randomBytes(24).toString('hex');
  const operatorHash = createHash('sha256').update(operatorToken).digest('hex');

  const emulator = await startEmulator({
    fixture: await loadFixtureFile(new URL(`../examples/${scenario.fixture}`, import.meta.url).pathname),
    adminPort: null,
  });
  say(bold(`1. ${scenario.premise}`));
  say(`  ${scenario.resource}`);
  say(`  ${scenario.serving(emulator)}`);

  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const logPath = join(dataDir, 'lastgood.log');
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, [new URL('../src/main.ts', import.meta.url).pathname], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LASTGOOD_CONFIG: new URL('../examples/lastgood.yaml', import.meta.url).pathname,
      LASTGOOD_DATA_DIR: dataDir,
      LASTGOOD_WEBHOOK_TOKENS: webhookToken,
      LASTGOOD_OPERATOR_TOKENS: `demo-operator:operator:${operatorHash}`,
      CLOUD_RUN_EMULATOR_HOST: emulator.host,
      CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
      MONITORING_EMULATOR_HOST: emulator.host,
      LASTGOOD_POLL_INTERVAL: '25ms',
    },
    stdio: ['ignore', log, log],
  });
  try {
    await waitUntilReady(baseUrl, child, logPath);
    await waitUntilWarm(logPath);
    // lastgood's warm-up made each read its rollback begins with; Google would answer the next ones warm.
    await emulator.warm(EMULATOR_WARM_ROUNDS);
    await warmStatusReads(baseUrl, operatorToken);
    say();
    say(bold('2. lastgood is running'));
    say(`  ${baseUrl} on SQLite in ${dataDir} (log: ${logPath})`);

    say();
    say(
      bold('3. Cloud Monitoring fires the SLO fast-burn alert: 18.2x burn on a 99.9% SLO (14.4x threshold)'),
    );
    // Calls before the alert are lastgood warming its clients at start; the story is what the alert led to.
    const callsBeforeAlert = emulator.calls.list().length;
    const sentAt = Date.now();
    const accepted = await postAlert(
      baseUrl,
      webhookToken,
      burnRateAlert({ burnRate: 18.2, target: scenario.target, service: scenario.target }),
    );
    const ackMs = Date.now() - sentAt;
    say(`  webhook answered 202 in ${ackMs} ms: alert ${accepted.alertId}, decision ${accepted.decisionId}`);
    const done = await waitForOutcome(baseUrl, operatorToken, accepted.decisionId);
    printDecision(done.decision);

    say();
    say(bold('4. Before changing anything, lastgood judged the evidence: is the newest change the cause?'));
    printJudgement(done.judgement);
    if (scenario.outcome === 'hold') {
      await showHold(done, emulator, scenario, callsBeforeAlert);
      return;
    }

    say();
    say(bold('5. What lastgood did'));
    const lkg = done.timeline.find((event) => event.step === 'lkg_selected');
    if (lkg) {
      const chosen = lkg.detail.revision ?? lkg.detail.release;
      say(`  last known good: ${chosen} by rule "${lkg.detail.rule}": ${lkg.detail.explanation}`);
    }
    const start = new Date(done.timeline[0]!.at).getTime();
    for (const event of done.timeline) {
      say(`    +${String(new Date(event.at).getTime() - start).padStart(4)} ms  ${event.step}`);
    }
    const calls = emulator.calls
      .list()
      .slice(callsBeforeAlert)
      .map((call) => call.method);
    say(`  Google calls made for the alert: ${calls.join(', ')}`);
    say(
      `  rollback: ${bold(done.rollback?.state ?? 'none')} (${done.rollback?.fromRevision} -> ${done.rollback?.toRevision})`,
    );
    say(`  now: ${bold(scenario.serving(emulator))}`);
    const finished = done.timeline.find((event) => event.step === 'succeeded');
    if (finished)
      say(`  alert to rollback done and verified: ${bold(`${new Date(finished.at).getTime() - start} ms`)}`);
    if (done.rollback?.state !== 'succeeded')
      throw new Error(`the rollback ended ${done.rollback?.state}: ${done.rollback?.error?.message}`);

    say();
    say(bold('6. A second alert for the same service arrives while the first rollback cools down'));
    const second = await postAlert(
      baseUrl,
      webhookToken,
      burnRateAlert({ burnRate: 22, target: scenario.target, service: scenario.target }),
    );
    const refused = await status(baseUrl, operatorToken, second.decisionId);
    printDecision(refused.decision);
    say(
      `  refused: no second rollback before ${refused.decision.nextEligibleAt}; mutating calls so far: ${mutatingCalls(emulator)}`,
    );
    if (refused.decision.reason !== 'COOLDOWN')
      throw new Error(`expected COOLDOWN, got ${refused.decision.reason}`);
    if (scenario === CLOUD_DEPLOY) {
      say();
      say(bold('7. The fix is ready: an operator unfreezes the pipeline'));
      const unfrozen = await fetch(`${baseUrl}/v1/targets/${scenario.target}/unfreeze`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}` },
      });
      if (!unfrozen.ok) throw new Error(`unfreeze answered ${unfrozen.status}: ${await unfrozen.text()}`);
      say(
        `  POST /v1/targets/${scenario.target}/unfreeze -> ${unfrozen.status}; ${scenario.serving(emulator)}`,
      );
    }
    say();
    say(`All of this came from GET /rollback/status/:id; runbooks/ walks through it on a real setup.`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await emulator.stop();
  }
}

/** The end of the hold story: nothing changed at Google, and what the on-call does next. */
async function showHold(
  done: Status,
  emulator: Emulator,
  scenario: Scenario,
  callsBeforeAlert: number,
): Promise<void> {
  say();
  say(bold('5. What lastgood did'));
  say(`  rollback: ${bold(done.rollback?.state ?? 'none')} (${done.rollback?.error?.code})`);
  say(`  ${done.rollback?.error?.message}`);
  const calls = emulator.calls
    .list()
    .slice(callsBeforeAlert)
    .map((call) => call.method);
  say(`  Google calls made for the alert: ${calls.join(', ')}`);
  const mutations = mutatingCalls(emulator);
  say(
    `  mutating Google calls: ${bold(String(mutations))} (no UpdateService); still ${scenario.serving(emulator)}`,
  );
  if (done.rollback?.state !== 'held')
    throw new Error(`expected a hold, the rollback ended ${done.rollback?.state}`);
  if (mutations !== 0 || calls.includes('UpdateService'))
    throw new Error(`a hold made ${mutations} mutating calls`);
  say();
  say(
    '  Slack and the webhook get one message for the incident, with this evidence (runbooks/rollback-held.md).',
  );
  say(`  If the on-call disagrees: npx lastgood rollback ${scenario.target}`);
}

const SCENARIOS: Record<string, Scenario> = {
  '--cloud-deploy': CLOUD_DEPLOY,
  '--dependency-outage': DEPENDENCY_OUTAGE,
};

main(SCENARIOS[process.argv.find((arg) => arg in SCENARIOS) ?? ''] ?? CLOUD_RUN).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
