/**
 * 6. Storm: 200 alerts at once, one per Cloud Run target, against a fresh lastgood with the production defaults
 * (the write quota raised to fit the storm, as a project expecting one would). Reports how far apart the first and
 * the last UpdateService land, and that every target was rolled back exactly once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator } from '../src/emulator/emulator.ts';
import { burnRateAlert } from '../test/fixtures/alerts.ts';
import {
  STORM_PROJECT,
  stormFixture,
  stormPolicyYaml,
  stormServiceName,
  stormTargets,
} from '../test/fixtures/storm.ts';
import { webhookPath } from './lib/alerts.ts';
import type { BenchContext } from './lib/context.ts';
import { startLastgoodInDir, TOKENS } from './lib/processes.ts';
import type { Metric } from './lib/report.ts';

const SECTION = '6. Storm';
const STORM = 200;

export async function benchStorm(ctx: BenchContext) {
  const targets = stormTargets(STORM);
  const dir = ctx.dir('storm');
  const emulator = await startEmulator({ fixture: stormFixture(targets), adminPort: null });
  let sentAt = 0;
  let acceptedMs = 0;
  try {
    const server = await startLastgoodInDir({
      dir,
      policyYaml: stormPolicyYaml(targets),
      emulatorHost: emulator.host,
      cpuProfile: ctx.cpuProfile,
      env: { LASTGOOD_GOOGLE_WRITE_RATE: `${STORM}/1m` },
    });
    ctx.log(`storm: ${STORM} alerts at once, one per Cloud Run target`);
    try {
      sentAt = performance.timeOrigin + performance.now();
      const answers = await Promise.all(
        targets.map((target) =>
          fetch(`${server.url}${webhookPath(TOKENS.webhook)}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(burnRateAlert({ target, service: target, project: STORM_PROJECT })),
          }),
        ),
      );
      acceptedMs = performance.timeOrigin + performance.now() - sentAt;
      const refused = answers.filter((answer) => answer.status !== 202);
      if (refused.length > 0) throw new Error(`${refused.length} alerts were not accepted`);
      const deadline = Date.now() + 120_000;
      while (emulator.calls.count('UpdateService') < STORM) {
        if (Date.now() > deadline) {
          throw new Error(`${emulator.calls.count('UpdateService')} of ${STORM} UpdateService within 120 s`);
        }
        await sleep(20);
      }
    } finally {
      await server.stop();
    }
  } finally {
    await emulator.stop();
  }
  const calls = emulator.calls.list({ method: 'UpdateService' });
  const services = new Set(
    calls.map((call) => (call.request as { service?: { name?: string } }).service?.name),
  );
  const rolledBackOnce =
    calls.length === STORM && targets.every((target) => services.has(stormServiceName(target)));
  const at = calls.map((call) => call.at).sort((a, b) => a - b);
  const first = at[0]! - sentAt;
  const spread = at.at(-1)! - at[0]!;
  const metrics: Metric[] = [
    {
      section: SECTION,
      name: `${STORM} targets: last UpdateService after the first`,
      value: rolledBackOnce ? spread : null,
      unit: 'ms',
      target: { op: '<=', value: 5_000 },
      note: rolledBackOnce
        ? `every target once; the first ${first.toFixed(0)} ms after the alerts were sent, all ${STORM} accepted in ${acceptedMs.toFixed(0)} ms`
        : `${calls.length} UpdateService on ${services.size} services: not each target once`,
    },
  ];
  return { metrics, details: { targets: STORM, firstAfterSendMs: first, spreadMs: spread, acceptedMs } };
}
