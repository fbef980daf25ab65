import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { API_HEADERS } from '../../src/http/security-headers.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { type TestApp, useTestApps, WEBHOOK_TOKEN, webhookUrl } from '../helpers/app.ts';

const start = useTestApps();

/** Writes raw bytes to a listening app and reads the answer until the server closes the connection. */
async function rawRequest(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.write(request);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

async function listen(t: TestApp): Promise<number> {
  await t.app.server.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return address.port;
}

function parseAnswer(raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe("Node's own refusals, before Fastify sees a request", () => {
  it.each([
    [
      'headers over the size limit',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'LASTGOOD_ERR_HEADERS_TOO_LARGE',
    ],
    [
      'a Content-Length that is not a number',
      `POST /webhook/error-budget-alert?auth_token=${WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`,
      400,
      'LASTGOOD_ERR_MALFORMED_REQUEST',
    ],
    [
      'two different Content-Lengths',
      'POST /webhook/error-budget-alert HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}',
      400,
      'LASTGOOD_ERR_MALFORMED_REQUEST',
    ],
    ['a request line that is not HTTP', 'HELLO\r\n\r\n', 400, 'LASTGOOD_ERR_MALFORMED_REQUEST'],
  ])(
    'answer %s in the error catalogue shape, with the security headers',
    async (_name, request, status, code) => {
      const t = await start();
      await t.app.server.listen({ port: 0, host: '127.0.0.1' });
      const address = t.app.server.server.address();
      if (typeof address !== 'object' || address === null) throw new Error('not listening');
      const answer = parseAnswer(await rawRequest(address.port, request));
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers.connection).toBe('close');
      expect(answer.headers).toMatchObject(API_HEADERS);
      const body = JSON.parse(answer.body);
      expect(body).toEqual({ code, message: expect.any(String) });
      expect(answer.body).not.toContain(WEBHOOK_TOKEN);
    },
  );
});

describe('connections a refused client held', () => {
  it('are answered 408 and closed when the request does not arrive within the request timeout', async () => {
    const t = await start({ env: { LASTGOOD_REQUEST_TIMEOUT: '1s' } });
    const sentAt = performance.now();
    const answer = parseAnswer(
      await rawRequest(await listen(t), 'POST /webhook/error-budget-alert HTTP/1.1\r\nHost: x\r\n'),
    );
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toEqual({
      code: 'LASTGOOD_ERR_REQUEST_TIMEOUT',
      message: expect.any(String),
    });
    expect(performance.now() - sentAt).toBeLessThan(3_000);
  });

  it.each([
    ['401', {}, 401],
    ['429', { LASTGOOD_RATE_LIMIT_ANONYMOUS: '1/1m' }, 429],
  ] as const)('are closed after a %s', async (_name, env, status) => {
    const t = await start({ env });
    let response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl('nope'),
      payload: burnRateAlert(),
    });
    if (status === 429)
      response = await t.app.server.inject({
        method: 'POST',
        url: webhookUrl('nope'),
        payload: burnRateAlert(),
      });
    expect(response.statusCode).toBe(status);
    expect(response.headers.connection).toBe('close');
  });

  it('stay open after an accepted alert', async () => {
    const t = await start();
    const response = await t.app.server.inject({
      method: 'POST',
      url: webhookUrl(),
      payload: burnRateAlert(),
    });
    expect(response.statusCode).toBe(202);
    expect(response.headers.connection).not.toBe('close');
  });
});
