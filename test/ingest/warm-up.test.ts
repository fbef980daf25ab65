import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { targetFor } from '../../src/ingest/intake.ts';
import { warmIntakeParsers } from '../../src/ingest/warm-up.ts';
import { EXAMPLE_POLICY, testEnv } from '../helpers/app.ts';

describe('warming the intake validators', () => {
  it('parses its notification by webhook and by Pub/Sub to the same open alert, which routes to no target', () => {
    const targets = loadConfig(testEnv('/tmp/lastgood-warm-up-unused'), () => EXAMPLE_POLICY).targets;
    const parsed = warmIntakeParsers();

    // Accepted both ways, so the warm-up ran every validator of a real alert, not only the refusal path.
    expect(parsed.map((alert) => [alert.signal.source, alert.dedupeKey, alert.signal.observedValue])).toEqual(
      [
        ['cloud-monitoring', '0.lastgood-warm-up:open', 18.2],
        ['pubsub', '0.lastgood-warm-up:open', 18.2],
      ],
    );
    for (const alert of parsed) expect(targetFor(alert.signal, targets)).toBeNull();
  });
});
