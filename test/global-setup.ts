import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findLeaks, registeredSecrets } from './helpers/log-sink.ts';
import { TEST_TOKENS } from './helpers/tokens.ts';

/**
 * One log sink for the whole run: every test app appends its log lines under a directory made here, and the
 * teardown fails the run if any credential a test used appears in any of them.
 */
export default function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'lastgood-test-logs-'));
  project.provide('logSinkDir', dir);
  return () => {
    const secrets = [...TEST_TOKENS, ...registeredSecrets(dir)];
    const { leaks, linesScanned } = findLeaks(dir, secrets);
    if (leaks.length === 0) {
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const where = leaks.map((leak) => `  secret #${leak.secret} in ${join(dir, leak.file)}:${leak.line}`);
    const message =
      `A credential reached the logs (${leaks.length} of ${linesScanned} lines scanned for ${secrets.length} ` +
      `secrets; the logs are kept):\n${where.slice(0, 20).join('\n')}`;
    process.stderr.write(`\n${message}\n`);
    throw new Error(message);
  };
}
