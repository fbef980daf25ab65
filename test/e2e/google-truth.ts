/**
 * What the record-the-truth e2e tests share: one emulator with fast operations, lastgood apps started with short
 * Google deadlines, and someone else's hand on the storefront pipeline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { v1 } from '@google-cloud/deploy';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { createCloudDeployClient } from '../../src/targets/google-clients.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_POLLING, PIPELINE, useExampleEmulator } from '../helpers/emulator.ts';
import { lastgoodRollouts } from '../replicas/support.ts';

/** Short, yet long enough for a fresh client to connect on a loaded test machine. */
export const DEADLINE_MS = 500;
export const ROLLBACK_TIMEOUT_MS = 1500;
/**
 * For a Google outage that must outlast what one call's retries ride out (four attempts: about 2.1 s) and end
 * well before the rollback timeout, which is longer for it: it ends `OUTAGE_MS` after lastgood's rollout exists.
 */
export const OUTAGE_MS = 3000;
export const OUTAGE_ENV = { LASTGOOD_ROLLBACK_TIMEOUT: '6s' };
/** A storefront alert: 30x burn, well above the threshold. */
export const STOREFRONT_ALERT = { target: 'storefront', service: 'storefront', burnRate: 30 };

export interface GoogleTruth {
  emulator(): Emulator;
  /** Starts lastgood against the emulator with the short deadline and rollback timeout; closed after the test. */
  start(env?: Record<string, string>): Promise<TestApp>;
  /** Someone other than lastgood suspends the storefront pipeline once lastgood's rollback rollout exists. */
  suspendDuringRollout(): Promise<void>;
}

export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

/** Sets up the emulator, a Cloud Deploy client for the other party, and the app cleanup for one test file. */
export function useGoogleTruth(): GoogleTruth {
  let emulator: Emulator;
  let deployClient: v1.CloudDeployClient;
  let app: TestApp | undefined;
  useExampleEmulator(
    (started) => {
      emulator = started;
    },
    { operationDelayMs: 10, rolloutPhaseDelayMs: 20 },
  );
  beforeAll(() => {
    deployClient = createCloudDeployClient(emulator.host);
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    // A call the emulator still holds would land in the next test's state.
    await until(() => emulator.calls.list().every((call) => call.code !== null));
  });
  afterAll(async () => {
    await deployClient.close();
  });
  return {
    emulator: () => emulator,
    async start(env = {}) {
      app = await startTestApp({
        emulatorHost: emulator.host,
        env: {
          LASTGOOD_GOOGLE_DEADLINE: `${DEADLINE_MS}ms`,
          LASTGOOD_ROLLBACK_TIMEOUT: `${ROLLBACK_TIMEOUT_MS}ms`,
          ...env,
        },
      });
      return app;
    },
    async suspendDuringRollout() {
      await until(() => lastgoodRollouts(emulator).length > 0);
      const [operation] = await deployClient.updateDeliveryPipeline(
        { deliveryPipeline: { name: PIPELINE, suspended: true }, updateMask: { paths: ['suspended'] } },
        FAST_POLLING,
      );
      await operation.promise();
    },
  };
}
