import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { CONTROL_ROUTES } from '../../src/emulator/admin-http.ts';
import type { EmulatorControl, RolloutStateBody } from '../../src/emulator/control.ts';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/emulator.ts';
import { type EmulatorFixture, loadFixtureFile } from '../../src/emulator/fixture.ts';
import type { CloudRunClients } from '../../src/targets/google-clients.ts';
import { startTestApp, type TestApp } from './app.ts';

export const EXAMPLE_FIXTURE_PATH = fileURLToPath(
  new URL('../../examples/emulator-fixture.yaml', import.meta.url),
);

/** Names from the example fixture (the services and pipeline of examples/lastgood.yaml). */
export const CHECKOUT = 'projects/demo-project/locations/us-central1/services/checkout';
export const PAYMENTS = 'projects/demo-project/locations/us-central1/services/payments';
export const LEGACY_API = 'projects/demo-project/locations/europe-west1/services/legacy-api';
export const PIPELINE = 'projects/demo-project/locations/us-central1/deliveryPipelines/storefront-pipeline';
/** Storefront's releases in the example fixture: rel-002 is on production, rel-001 ran there before it. */
export const REL_001 = `${PIPELINE}/releases/rel-001`;
export const REL_002 = `${PIPELINE}/releases/rel-002`;
/** The rollout that put rel-002 on production: the one a rollback of storefront rolls back. */
export const REL_002_ROLLOUT = `${REL_002}/rollouts/rel-002-to-production-0001`;
/** The webhook-token secret in the example fixture, and its version 1. */
export const WEBHOOK_TOKEN_SECRET = 'projects/demo-project/secrets/lastgood-webhook-token';
export const FIXTURE_WEBHOOK_TOKEN = 'demo-webhook-token-0123456789abcdef0123456789';
/** Checkout's known-good revision in the example fixture: the one a rollback of checkout goes back to. */
export const GOOD_REVISION = 'checkout-00001-abc';
/** What checkout serves in the example fixture: the revision a rollback moves off. */
export const BAD_REVISION = 'checkout-00002-xyz';

/**
 * gax polls a long-running operation first at once, then after 100 ms growing by 1.3x; tests poll every 5 ms so an
 * operation that the emulator finishes in 20 ms is seen done without waiting for the default backoff.
 */
export const FAST_POLLING = {
  longrunning: {
    initialRetryDelayMillis: 5,
    retryDelayMultiplier: 1,
    maxRetryDelayMillis: 5,
    totalTimeoutMillis: 5_000,
  },
};

/**
 * Reads checkout and sends all its traffic to `revision` under the etag it read, as lastgood's rollback does;
 * `{ retry: null }` makes a refused update fail at once.
 */
export async function shiftCheckoutTo(
  run: CloudRunClients,
  revision: string,
  callOptions: typeof FAST_POLLING | { retry: null } = FAST_POLLING,
) {
  const [service] = await run.services.getService({ name: CHECKOUT });
  const [operation] = await run.services.updateService(
    {
      service: {
        name: CHECKOUT,
        etag: service.etag ?? null,
        traffic: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision, percent: 100 }],
      },
      updateMask: { paths: ['traffic'] },
    },
    callOptions,
  );
  return { before: service, operation };
}

/** Starts the emulator on free ports, seeded from examples/emulator-fixture.yaml, with fast operations. */
export async function startExampleEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({
    fixture: await loadFixtureFile(EXAMPLE_FIXTURE_PATH),
    operationDelayMs: 20,
    ...options,
  });
}

/**
 * One emulator for the test file, seeded with the example fixture and reset before every test, so each test starts
 * from the same state and no fault outlives it. `use` receives the emulator once it is up.
 */
export function useExampleEmulator(
  use: (emulator: Emulator, fixture: EmulatorFixture) => void,
  options: Omit<EmulatorOptions, 'fixture'> = {},
): void {
  useFixtureEmulator(EXAMPLE_FIXTURE_PATH, use, options);
}

/** The dependency outage: checkout unchanged for four days, both its revisions failing alike since 10 minutes ago. */
export const DEPENDENCY_OUTAGE_FIXTURE_PATH = fileURLToPath(
  new URL('../../examples/emulator-fixture-dependency-outage.yaml', import.meta.url),
);

/** As `useExampleEmulator`, seeded with the fixture file at `path`. */
export function useFixtureEmulator(
  path: string,
  use: (emulator: Emulator, fixture: EmulatorFixture) => void,
  options: Omit<EmulatorOptions, 'fixture'> = {},
): void {
  let emulator: Emulator | null = null;
  beforeAll(async () => {
    const fixture = await loadFixtureFile(path);
    emulator = await startEmulator({ adminPort: null, operationDelayMs: 20, ...options, fixture });
    use(emulator, fixture);
  });
  afterAll(async () => {
    await emulator?.stop();
  });
  beforeEach(() => {
    emulator?.reset();
  });
}

/**
 * `useExampleEmulator`, plus a fresh app wired to the emulator for each test and closed after it; `use` receives
 * both before every test.
 */
export function useAppOnExampleEmulator(use: (emulator: Emulator, t: TestApp) => void): void {
  useAppOnFixtureEmulator(EXAMPLE_FIXTURE_PATH, use);
}

/** As `useAppOnExampleEmulator`, on an emulator seeded with the fixture file at `path`. */
export function useAppOnFixtureEmulator(path: string, use: (emulator: Emulator, t: TestApp) => void): void {
  let emulator: Emulator | null = null;
  let t: TestApp | null = null;
  useFixtureEmulator(path, (started) => {
    emulator = started;
  });
  beforeEach(async () => {
    if (emulator === null) throw new Error(`the emulator seeded with ${path} did not start`);
    t = await startTestApp({ emulatorHost: emulator.host });
    use(emulator, t);
  });
  afterEach(async () => {
    await t?.close();
    t = null;
  });
}

/** The control calls over an emulator's admin endpoint, for a process that does not hold the `Emulator`. */
export type EmulatorAdmin = {
  [K in keyof EmulatorControl]: (
    body: Parameters<EmulatorControl[K]>[0],
  ) => Promise<{ status: number; body: ReturnType<EmulatorControl[K]> | { error: string } }>;
};

/** Builds `EmulatorAdmin` from the admin endpoint's own route table, so a route cannot drift from its helper. */
export function emulatorAdmin(adminUrl: string): EmulatorAdmin {
  const calls = Object.entries(CONTROL_ROUTES).map(([route, { call }]) => {
    const [method, path] = route.split(' ');
    const send = async (body: unknown) => {
      const response = await fetch(`${adminUrl}${path}`, {
        method,
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      return { status: response.status, body: await response.json() };
    };
    return [call, send];
  });
  return Object.fromEntries(calls) as EmulatorAdmin;
}

/**
 * A deploy from outside lastgood: a new release of the pipeline with one rollout on `target`, IN_PROGRESS unless
 * `state` says otherwise (move it on with `control.setRolloutState`). Answers the rollout's full name.
 */
export function deployRelease(
  control: EmulatorControl,
  options: { pipeline: string; releaseId: string; target: string; state?: RolloutStateBody['state'] },
): string {
  const { pipeline, releaseId, target, state = 'IN_PROGRESS' } = options;
  const rolloutId = `${releaseId}-to-${target}-0001`;
  control.createRelease({
    pipeline,
    release: {
      id: releaseId,
      createTime: 'now',
      rollouts: [{ id: rolloutId, target, state, createTime: 'now' }],
    },
  });
  return `${pipeline}/releases/${releaseId}/rollouts/${rolloutId}`;
}

/**
 * A canary from outside lastgood: a new revision of `service` created `createTime` (default now) taking `percent`
 * of the traffic, the rest staying on `stable`.
 */
export function startCanary(
  control: EmulatorControl,
  options: { service: string; revision: string; stable: string; percent: number; createTime?: string },
): void {
  const { service, revision, stable, percent, createTime = 'now' } = options;
  control.createRevision({ service, revision: { name: revision, createTime } });
  control.setTraffic({
    service,
    traffic: [
      { revision: stable, percent: 100 - percent, tag: 'stable' },
      { revision, percent, tag: 'canary' },
    ],
  });
}

/** The revisions a Cloud Run service (full name) serves now and their percent, as Cloud Run reports them. */
export function servingSplit(emulator: Emulator, service = CHECKOUT): Record<string, number> {
  const split: Record<string, number> = {};
  for (const entry of emulator.state.cloudRun.service(service)?.trafficStatuses ?? []) {
    if (entry.percent > 0) split[entry.revision] = entry.percent;
  }
  return split;
}
