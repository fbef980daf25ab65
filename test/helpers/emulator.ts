import { afterAll, beforeAll, beforeEach } from 'vitest';
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
  let emulator: Emulator | null = null;
  beforeAll(async () => {
    const fixture = await loadFixtureFile(EXAMPLE_FIXTURE_PATH);
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
