import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { sha256Hex, startTestApp, testEnv } from '../helpers/app.ts';
import { findLeaks } from '../helpers/log-sink.ts';
import { OLD_WEBHOOK_TOKEN, TEST_TOKENS, WEBHOOK_TOKEN } from '../helpers/tokens.ts';

describe('the suite-wide log scan', () => {
  it('finds a token written as is or URL-encoded, and names it by position only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastgood-scan-'));
    try {
      writeFileSync(join(dir, 'a.log'), `{"msg":"ok"}\n{"url":"/x?auth_token=${WEBHOOK_TOKEN}"}\n`);
      writeFileSync(join(dir, 'b.log'), `{"url":"/x?t=${encodeURIComponent('s3cret/+token')}"}\n`);
      writeFileSync(join(dir, 'c.secrets'), `${WEBHOOK_TOKEN}\n`);
      const { leaks } = findLeaks(dir, [WEBHOOK_TOKEN, 's3cret/+token', 'never-used']);
      expect(leaks).toEqual([
        { file: 'a.log', line: 2, secret: 0 },
        { file: 'b.log', line: 1, secret: 1 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('receives the log lines of every test app', async () => {
    const marker = `/marker-${randomUUID()}`;
    const t = await startTestApp();
    await t.app.server.inject({ method: 'GET', url: marker });
    await t.close();
    const dir = inject('logSinkDir');
    const sinks = readdirSync(dir).filter((name) => name.endsWith('.log'));
    expect(sinks.some((name) => readFileSync(join(dir, name), 'utf8').includes(marker))).toBe(true);
  });

  it('looks for every token the tests configure', () => {
    // What every test app is configured with: webhook tokens as is, operator tokens as SHA-256 hashes.
    const env = testEnv('/unused');
    const webhookTokens = (env.LASTGOOD_WEBHOOK_TOKENS ?? '').split(',');
    const operatorHashes = (env.LASTGOOD_OPERATOR_TOKENS ?? '')
      .split(',')
      .map((entry) => entry.split(':')[2]);
    expect(webhookTokens).toEqual([WEBHOOK_TOKEN, OLD_WEBHOOK_TOKEN]);
    expect(operatorHashes).toHaveLength(3);
    expect(TEST_TOKENS).toEqual(expect.arrayContaining(webhookTokens));
    expect(TEST_TOKENS.map(sha256Hex)).toEqual(expect.arrayContaining(operatorHashes));
    expect(new Set(TEST_TOKENS).size).toBe(TEST_TOKENS.length);
  });
});
