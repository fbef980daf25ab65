import {
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CallLog } from '../../src/emulator/call-log.ts';
import { FaultInjector } from '../../src/emulator/faults.ts';
import { implementService, stampArrival } from '../../src/emulator/grpc-service.ts';

const DECODE_MS = 40;

type EchoMethod = (request: string, callback: (error: Error | null, value: string) => void) => void;

/** A one-method service whose request decoder takes `DECODE_MS`, and notes when it started. */
function slowDecodingService(decodeStarts: number[]): ServiceDefinition {
  return {
    Echo: {
      path: '/test.Slow/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: string) => Buffer.from(value),
      requestDeserialize: (bytes: Buffer) => {
        decodeStarts.push(performance.timeOrigin + performance.now());
        const until = performance.now() + DECODE_MS;
        while (performance.now() < until) {
          // Busy, as protobufjs generating a decoder at its first use is.
        }
        return bytes.toString();
      },
      responseSerialize: (value: string) => Buffer.from(value),
      responseDeserialize: (bytes: Buffer) => bytes.toString(),
    },
  };
}

describe('the call log', () => {
  it('stamps a call with the time it arrived, before the emulator decoded its request', async () => {
    const calls = new CallLog();
    const decodeStarts: number[] = [];
    const definition = slowDecodingService(decodeStarts);
    const server = new Server({ interceptors: [stampArrival] });
    server.addService(
      definition,
      implementService({ calls, faults: new FaultInjector() }, 'test.Slow', {
        Echo: (request: never) => request,
      }),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const Client = makeGenericClientConstructor(definition, 'Slow');
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const echo = (client as unknown as { Echo: EchoMethod }).Echo.bind(client);
      const answer = await new Promise((resolve, reject) =>
        echo('hello', (error, value) => (error ? reject(error) : resolve(value))),
      );
      expect(answer).toBe('hello');
      const [record] = calls.list();
      expect(record?.method).toBe('Echo');
      expect(record!.at).toBeLessThanOrEqual(decodeStarts[0]!);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
