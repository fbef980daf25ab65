import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.ts';
import type { TestApp } from '../helpers/app.ts';
import { DEPENDENCY_OUTAGE_FIXTURE_PATH, useAppOnFixtureEmulator } from '../helpers/emulator.ts';
import { listen, rollBack, runLastgood, useCliApp } from './harness.ts';

describe('lastgood status shows the evidence a rollback was judged on', () => {
  let t: TestApp;
  let env: Record<string, string>;
  useCliApp((app) => {
    ({ t, env } = app);
  });

  it('prints the verdict, suspect and baseline, change and onset, and their ratios', async () => {
    const accepted = await rollBack(t);
    const shown = await runLastgood(['status', accepted.decisionId], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^judgement\s+rollback \/ ROLLBACK\s+\(judged \S+ \S+Z\)$/m);
    expect(shown.stdout).toMatch(/^suspect\s+checkout-00002-xyz$/m);
    expect(shown.stdout).toMatch(/^baseline\s+checkout-00001-abc$/m);
    expect(shown.stdout).toMatch(/^change\s+\S+ \S+Z\s+\(from monitoring\)$/m);
    expect(shown.stdout).toMatch(/^onset\s+\S+ \S+Z$/m);
    expect(shown.stdout).toMatch(/^telemetry\s+ok$/m);
    expect(shown.stdout).toMatch(/^correlated\s+no other target alerting$/m);
    expect(shown.stdout).toMatch(/^REVISION\s+ROLE\s+FROM\s+TO\s+REQUESTS\s+ERRORS\s+RATIO$/m);
    const suspect = /^checkout-00002-xyz\s+suspect\s+.*\s+(\d+)\s+(\d+)\s+(\d+\.\d\d)%$/m.exec(shown.stdout);
    const baseline = /^checkout-00001-abc\s+baseline\s+.*\s+(\d+)\s+(\d+)\s+(\d+\.\d\d)%$/m.exec(
      shown.stdout,
    );
    expect(Number(suspect?.[1])).toBeGreaterThan(0);
    expect(Number(suspect?.[3])).toBeGreaterThan(Number(baseline?.[3]));
    // The timeline names the verdict; the evidence itself is shown once, above, not as a line of JSON.
    expect(shown.stdout).toMatch(/\bjudged\s+rollback \(ROLLBACK\)$/m);
    expect(shown.stdout).not.toContain('"trafficRecords"');
  });
});

describe('lastgood status shows why lastgood held', () => {
  let outage: Emulator;
  let t: TestApp;
  useAppOnFixtureEmulator(DEPENDENCY_OUTAGE_FIXTURE_PATH, (started, app) => {
    outage = started;
    t = app;
  });

  it('prints the hold, its reason, and an onset long after the change', async () => {
    const env = await listen(t);
    const accepted = await rollBack(t);
    const shown = await runLastgood(['status', accepted.decisionId], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^rollback\s+held\s/m);
    expect(shown.stdout).toMatch(/^judgement\s+HOLD \/ NO_RECENT_CHANGE\s/m);
    const change = /^change\s+(\S+ \S+Z)/m.exec(shown.stdout)?.[1];
    const onset = /^onset\s+(\S+ \S+Z)$/m.exec(shown.stdout)?.[1];
    expect(Date.parse(onset!.replace(' ', 'T'))).toBeGreaterThan(Date.parse(change!.replace(' ', 'T')));
    // Held on timing, so nothing was compared: the table shows each revision since the onset, both failing alike.
    expect(shown.stdout).toContain('(not compared by the judgement');
    for (const [revision, role] of [
      ['checkout-00002-xyz', 'suspect'],
      ['checkout-00001-abc', 'baseline'],
    ]) {
      const ratio = new RegExp(`^${revision}\\s+${role}\\s+.*\\s(\\d+\\.\\d\\d)%$`, 'm').exec(
        shown.stdout,
      )?.[1];
      expect(Number(ratio)).toBeGreaterThan(30);
    }
    expect(outage.calls.count('UpdateService')).toBe(0);
  });
});
