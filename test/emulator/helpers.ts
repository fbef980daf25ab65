import { fileURLToPath } from 'node:url';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../src/emulator/emulator.ts';
import { loadFixtureFile } from '../../src/emulator/fixture.ts';

export const EXAMPLE_FIXTURE_PATH = fileURLToPath(
  new URL('../../examples/emulator-fixture.yaml', import.meta.url),
);

export const CHECKOUT = 'projects/demo-project/locations/us-central1/services/checkout';
export const PAYMENTS = 'projects/demo-project/locations/us-central1/services/payments';
export const LEGACY_API = 'projects/demo-project/locations/europe-west1/services/legacy-api';

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

/** Starts the emulator on free ports, seeded from examples/emulator-fixture.yaml, with fast operations. */
export async function startExampleEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({
    fixture: await loadFixtureFile(EXAMPLE_FIXTURE_PATH),
    operationDelayMs: 20,
    ...options,
  });
}
