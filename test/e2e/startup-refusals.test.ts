import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXAMPLE_POLICY } from '../helpers/app.ts';
import { type LastgoodProcess, startLastgood } from '../helpers/process.ts';

/** Exit code of a refused configuration (sysexits EX_CONFIG), as src/main.ts exits. */
const EX_CONFIG = 78;

const started: LastgoodProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((process) => process.dispose()));
});

function policyFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'lastgood-policy-')), 'lastgood.yaml');
  writeFileSync(path, text);
  return path;
}

async function start(name: string, env: Record<string, string>): Promise<LastgoodProcess> {
  const process = await startLastgood({ name, env });
  started.push(process);
  return process;
}

const DUPLICATE_SERVICE = `${EXAMPLE_POLICY}
  checkout-again:
    kind: cloud-run
    project: demo-project
    region: us-central1
    service: checkout
`;

describe('a real lastgood process refuses a configuration it cannot honour', () => {
  it.each([
    [
      'two targets for one Cloud Run service',
      { LASTGOOD_CONFIG: policyFile(DUPLICATE_SERVICE) },
      ['targets.checkout-again', 'checkout', 'projects/demo-project/locations/us-central1/services/checkout'],
    ],
    [
      'a job poll past what a timer can wait',
      { LASTGOOD_JOB_POLL: '30d' },
      ['LASTGOOD_JOB_POLL', 'between 10ms and 10m'],
    ],
    [
      'a policy file with a duplicate key',
      { LASTGOOD_CONFIG: policyFile('targets:\n  a:\n    kind: x\n  a:\n    kind: y\n') },
      ['line 4, column 3', 'Map keys must be unique'],
    ],
    ['an empty policy file', { LASTGOOD_CONFIG: policyFile('') }, ['no targets']],
  ])('exits %s with 78 and a message naming it', async (name, env, expected) => {
    const lastgood = await start(`refuse-${name.replace(/\W+/g, '-')}`, env);
    // A process that starts (as each of these did before the fix) would otherwise hold the test to its timeout.
    const exit = await Promise.race([
      lastgood.exited,
      lastgood.waitReady().then(() => {
        throw new Error(`started instead of refusing:\n${lastgood.output()}`);
      }),
    ]);
    expect(exit.code).toBe(EX_CONFIG);
    for (const text of expected) expect(lastgood.output()).toContain(text);
  });

  it('starts with a look-alike variable, and logs a warning naming it', async () => {
    const lastgood = await start('look-alike', { DATABSE_URL: 'postgres://db/lastgood' });
    await lastgood.waitReady();
    const warning = lastgood
      .output()
      .split('\n')
      .find((line) => line.includes('DATABSE_URL'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 40 });
    expect(warning).toContain('DATABASE_URL');
  });

  it("starts beside the emulator's LASTGOOD_EMULATOR_* variables", async () => {
    const lastgood = await start('emulator-vars', { LASTGOOD_EMULATOR_PORT: '8085' });
    await lastgood.waitReady();
    expect(lastgood.output()).not.toContain('LASTGOOD_EMULATOR_PORT');
  });
});
