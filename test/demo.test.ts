import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** `npm run demo` is one of the README's two commands: it must keep telling the story end to end. */
describe('npm run demo', () => {
  it('rolls the bad Cloud Run revision back and refuses the second alert', async () => {
    const { stdout } = await run(process.execPath, ['scripts/demo.ts'], { timeout: 60_000 });
    expect(stdout).toContain('rollback: succeeded (checkout-00002-xyz -> checkout-00001-abc)');
    expect(stdout).toContain('traffic: checkout-00001-abc 100%');
    expect(stdout).toContain('none / COOLDOWN');
  });

  it('tells the same story through a Cloud Deploy pipeline with --cloud-deploy', async () => {
    const { stdout } = await run(process.execPath, ['scripts/demo.ts', '--cloud-deploy'], {
      timeout: 60_000,
    });
    expect(stdout).toContain('rollback: succeeded (rel-002 -> rel-001)');
    expect(stdout).toContain('production runs release rel-001; pipeline SUSPENDED (frozen)');
    expect(stdout).toContain('unfreeze -> 200; production runs release rel-001; pipeline active');
  });
});
