/**
 * What the replica tests share: the emulator they run in-process and a world of lastgood processes on one store
 * (test/helpers/store-under-test.ts).
 */
import type { Emulator } from '../../src/emulator/emulator.ts';
import { PIPELINE, startExampleEmulator } from '../helpers/emulator.ts';
import { type LastgoodProcess, startLastgood } from '../helpers/process.ts';
import type { StoreUnderTest } from '../helpers/store-under-test.ts';

/** The example fixture's emulator with fast operations and rollouts; its host goes to both `*_EMULATOR_HOST`. */
export async function startReplicaEmulator(): Promise<Emulator> {
  return startExampleEmulator({ adminPort: null, rolloutPhaseDelayMs: 30 });
}

export function emulatorEnv(emulator: Emulator): Record<string, string> {
  return {
    CLOUD_RUN_EMULATOR_HOST: emulator.host,
    CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
    MONITORING_EMULATOR_HOST: emulator.host,
  };
}

/** The calls of a method that could change something: `validate_only` ones are left out. */
export function mutatingCalls(emulator: Emulator, method: string) {
  return emulator.calls
    .list({ method })
    .filter((call) => (call.request as { validateOnly?: boolean }).validateOnly !== true);
}

/** Rollouts lastgood created: their ids are derived from the decision (`lastgood-rb-...`). */
export function lastgoodRollouts(emulator: Emulator) {
  return (emulator.state.cloudDeploy.pipeline(PIPELINE)?.releases ?? [])
    .flatMap((release) => release.rollouts)
    .filter((rollout) => rollout.name.split('/').at(-1)!.startsWith('lastgood-rb-'));
}

/** One test's own world: an emulator, a store, and the lastgood processes it starts, all gone when it ends. */
export interface ReplicaWorld {
  emulator: Emulator;
  store: StoreUnderTest;
  /** Starts `node src/main.ts` on the world's store and emulator and waits until it is ready. */
  start(name: string, env?: Record<string, string>, options?: { fdLimit?: number }): Promise<LastgoodProcess>;
}

/**
 * Sets up a test's world and registers its teardown (processes killed, store dropped, emulator stopped) with the
 * test, so tests of one file can run concurrently without sharing an emulator's call log or a store.
 */
export async function replicaWorld(
  test: { onTestFinished(fn: () => Promise<void>): void },
  openStore: () => Promise<StoreUnderTest>,
): Promise<ReplicaWorld> {
  const emulator = await startReplicaEmulator();
  const processes: LastgoodProcess[] = [];
  let store: StoreUnderTest | null = null;
  test.onTestFinished(async () => {
    await Promise.all(processes.map((process) => process.dispose()));
    await store?.dispose();
    await emulator.stop();
  });
  store = await openStore();
  const world: ReplicaWorld = {
    emulator,
    store,
    async start(name, env = {}, options = {}) {
      const process = await startLastgood({
        name,
        env: { ...world.store.env, ...emulatorEnv(emulator), ...env },
        ...options,
      });
      processes.push(process);
      await process.waitReady();
      return process;
    },
  };
  return world;
}
