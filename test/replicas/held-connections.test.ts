import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'vitest';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { sleep, until } from '../helpers/poll.ts';
import { postAlert } from '../helpers/process.ts';
import { sqliteUnderTest } from '../helpers/store-under-test.ts';
import { replicaWorld } from './support.ts';

const HELD = 1_000;
/** A container's usual open-file limit: with it, about 1,000 held connections once made every real alert fail. */
const FD_LIMIT = 1_024;
/** The attacker's own loopback address, so the cap per address it meets is not the real sender's. */
const ATTACKER = '127.0.0.2';

interface Held {
  socket: Socket;
  kind: 'chunked-body' | 'open-headers';
  answer: string;
  closed: boolean;
}

/**
 * Opens a connection that never finishes its request: an unauthenticated webhook POST whose chunked body never
 * ends, or headers that never end. Resolves once connected, or once refused (a connection cap may close it at once).
 */
async function hold(url: URL, kind: Held['kind']): Promise<Held> {
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress: ATTACKER });
  const held: Held = { socket, kind, answer: '', closed: false };
  socket.on('data', (chunk: Buffer) => {
    held.answer += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    held.closed = true;
  });
  await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
  if (!held.closed) {
    socket.write(
      kind === 'chunked-body'
        ? 'POST /webhook/error-budget-alert HTTP/1.1\r\nHost: lastgood\r\nContent-Type: application/json\r\n' +
            'Transfer-Encoding: chunked\r\n\r\n5\r\n{"ver\r\n'
        : 'POST /webhook/error-budget-alert HTTP/1.1\r\nHost: lastgood\r\nX-Slow: ',
    );
  }
  return held;
}

describe('connections held open by an unauthenticated client', () => {
  it('1,000 of them do not stop a real alert from being answered, and none is held for long', async ({
    expect,
    onTestFinished,
  }) => {
    const world = await replicaWorld({ onTestFinished }, async () => sqliteUnderTest());
    const lastgood = await world.start('held-connections', {}, { fdLimit: FD_LIMIT });
    const url = new URL(lastgood.url);
    const held: Held[] = [];
    onTestFinished(() => {
      for (const { socket } of held) socket.destroy();
    });
    for (let batch = 0; batch < HELD; batch += 100) {
      held.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            hold(url, (batch + i) % 2 === 0 ? 'chunked-body' : 'open-headers'),
          ),
        )),
      );
    }
    // Let the server read what was sent, answer what it can, and run into its limits.
    await sleep(500);

    const sentAt = performance.now();
    const alert = await postAlert(lastgood.url, burnRateAlert({ incidentId: '0.real-under-siege' }));
    expect(alert.error, lastgood.output().slice(-2_000)).toBeNull();
    expect(alert.status, lastgood.output().slice(-3_000)).toBe(202);
    expect(alert.body?.reason).toBe('ROLLBACK');
    expect(performance.now() - sentAt).toBeLessThan(5_000);

    // A refused request's connection is closed once its 401 is sent, though its body never ended.
    const answered = held.filter((h) => h.answer.startsWith('HTTP/1.1 401'));
    expect(answered.length).toBeGreaterThan(0);
    await until(() => answered.every((h) => h.closed), 'every 401 connection to be closed', {
      timeoutMs: 3_000,
    });
    expect(answered.every((h) => /\r\nconnection: close\r\n/i.test(h.answer))).toBe(true);
    // Headers that never end are cut off by the request timeout (default 10 s, checked every second).
    await until(() => held.every((h) => h.closed), 'every held connection to be closed', {
      timeoutMs: 15_000,
    });
  }, 60_000);
});
