import { afterAll, beforeAll, beforeEach } from 'vitest';
import { CONTROL_ROUTES } from '../../src/emulator/admin-http.ts';
import type { EmulatorControl, RolloutStateBody } from '../../src/emulator/control.ts';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/emulator.ts';
import { type EmulatorFixture, loadFixtureFile } from '../../src/emulator/fixture.ts';

export const EXAMPLE_FIXTURE_PATH = 'examples/emulator-fixture.yaml';

/**
 * One emulator for the test file, seeded with the example fixture (the services and pipeline of
 * examples/lastgood.yaml) and reset before every test, so each test starts from the same state and no fault
 * outlives it. `use` receives the emulator once it is up.
 */
export function useExampleEmulator(
  use: (emulator: Emulator, fixture: EmulatorFixture) => void,
  options: Omit<EmulatorOptions, 'fixture'> = {},
): void {
  useFixtureEmulator(EXAMPLE_FIXTURE_PATH, use, options);
}

/** The dependency outage: checkout unchanged for four days, both its revisions failing alike since 10 minutes ago. */
export const DEPENDENCY_OUTAGE_FIXTURE_PATH = 'examples/emulator-fixture-dependency-outage.yaml';

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
