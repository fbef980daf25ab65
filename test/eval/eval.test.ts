import { describe, expect, it } from 'vitest';
import { loadScenarios, runCorpus, SCENARIOS_DIR } from '../../eval/corpus.ts';

describe('decision-quality corpus', () => {
  const run = runCorpus(SCENARIOS_DIR);

  it('holds at least 48 labelled scenarios, each with a rationale', () => {
    const scenarios = loadScenarios(SCENARIOS_DIR);
    expect(scenarios.length).toBeGreaterThanOrEqual(48);
    for (const scenario of scenarios) expect(scenario.rationale.length).toBeGreaterThan(20);
  });

  it('judges with precision >= 0.98 and recall >= 0.97 for ROLLBACK', () => {
    expect(
      run.judged.precision,
      `false rollbacks: ${run.judged.falseRollbacks.join(', ')}`,
    ).toBeGreaterThanOrEqual(0.98);
    expect(
      run.judged.recall,
      `missed rollbacks: ${run.judged.missedRollbacks.join(', ')}`,
    ).toBeGreaterThanOrEqual(0.97);
  });

  it('beats the alert-only rule it replaces on precision', () => {
    expect(run.judged.precision!).toBeGreaterThan(run.alertOnly.precision!);
  });
});
