import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, connectivityState } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { warmRollbackCall } from '../../src/targets/cloud-run-warm-up.ts';
import { createExecutors } from '../../src/targets/executors.ts';
import {
  createCloudRunClients,
  createMonitoringClient,
  warmClient,
} from '../../src/targets/google-clients.ts';
import { warmTelemetryDecoding } from '../../src/targets/monitoring-warm-up.ts';
import { EXAMPLE_POLICY, FAST_GOOGLE_ENV, testEnv } from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';

let emulator: Emulator;
useExampleEmulator((started) => {
  emulator = started;
});

const CHECKOUT = 'projects/demo-project/locations/us-central1/services/checkout';

/** Whether this process has loaded a Google client class's module (see CLIENT_MODULES in google-clients.ts). */
const loaded = (clientModule: string) =>
  Object.keys(createRequire(import.meta.url).cache).some((path) => path.endsWith(clientModule));
const CLIENT_MODULES = [
  '@google-cloud/run/build/src/v2/services_client.js',
  '@google-cloud/deploy/build/src/v1/cloud_deploy_client.js',
  '@google-cloud/monitoring/build/src/v3/metric_service_client.js',
];

/** The example policy's executors, every Google API pointed at the emulator; nothing is built yet. */
function exampleExecutors() {
  const config = loadConfig(
    testEnv('/tmp/lastgood-warming-unused', {
      ...FAST_GOOGLE_ENV,
      CLOUD_RUN_EMULATOR_HOST: emulator.host,
      CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
      MONITORING_EMULATOR_HOST: emulator.host,
    }),
    () => EXAMPLE_POLICY,
  );
  return { config, executors: createExecutors(config) };
}

describe('warming the Google clients', () => {
  it('connects every client of the configured kinds with one read each, and changes nothing', async () => {
    const { executors } = exampleExecutors();
    // Loading and building them held /readyz back; they are built when warming starts, after readiness.
    expect(CLIENT_MODULES.filter(loaded)).toEqual([]);
    const errors: unknown[] = [];
    try {
      await executors.startWarming((error) => errors.push(error));
    } finally {
      await executors.close();
    }
    expect(CLIENT_MODULES.filter(loaded)).toEqual(CLIENT_MODULES);

    expect(errors).toEqual([]);
    expect(emulator.calls.list().map((call) => [call.method, call.code])).toEqual(
      expect.arrayContaining([
        ['GetService', 0],
        ['ListRevisions', 0],
        ['GetDeliveryPipeline', 0],
        ['ListTimeSeries', 0],
      ]),
    );
    expect(emulator.calls.list()).toHaveLength(4);
    // Telemetry is read over the window an alert starting now is judged on (lookback and change window, an hour
    // each by default), so the first alert's evidence read decodes no more than the warm-up did.
    const [read] = emulator.calls.list({ method: 'ListTimeSeries' });
    const { interval } = read!.request as {
      interval: { startTime: { seconds: string }; endTime: { seconds: string } };
    };
    expect(Number(interval.endTime.seconds) - Number(interval.startTime.seconds)).toBe(2 * 3_600);
  });

  it('builds a client at its first use when the warm-up has not built it yet', async () => {
    const { config, executors } = exampleExecutors();
    try {
      const checkout = config.targets.get('checkout')!;
      await executors.byKind['cloud-run']!.checkRequestedRevision(checkout, 'checkout-00001-abc');
      await expect(
        executors.byKind['cloud-run']!.checkRequestedRevision(checkout, 'checkout-09999-nope'),
      ).rejects.toMatchObject({ code: 'LASTGOOD_ERR_REVISION_UNUSABLE' });
      expect(emulator.calls.list({ method: 'GetRevision' }).length).toBeGreaterThan(0);
    } finally {
      await executors.close();
    }
  });

  it('builds, connects and calls nothing once closed, as when the process stops during the warm-up', async () => {
    const { executors } = exampleExecutors();
    const before = emulator.calls.list().length;
    await executors.close();
    await executors.buildClients();
    await executors.startWarming((error) => {
      throw error;
    });
    await sleep(200);
    expect(emulator.calls.list().slice(before)).toEqual([]);
  });

  it('keeps a channel connected past its idle timeout while it is touched; left alone, it goes idle', async () => {
    const touched = createCloudRunClients(emulator.host, { idleTimeoutMs: 1_000 });
    const alone = createCloudRunClients(emulator.host, { idleTimeoutMs: 1_000 });
    const read = (clients: typeof touched) => () => clients.services.getService({ name: CHECKOUT });
    try {
      const touch = await warmClient(touched.services, true, 2_000, read(touched));
      await warmClient(alone.services, true, 2_000, read(alone));
      const timer = setInterval(() => void touch(), 300);
      await sleep(2_500);
      clearInterval(timer);

      const state = async (clients: typeof touched) =>
        ((await clients.services.initialize()) as unknown as Client).getChannel().getConnectivityState(false);
      expect(await state(touched)).toBe(connectivityState.READY);
      expect(await state(alone)).toBe(connectivityState.IDLE);
    } finally {
      await touched.close();
      await alone.close();
    }
  });

  it('encodes a rollback of a made-up service and decodes a made-up answer, sending nothing', async () => {
    const clients = createCloudRunClients(emulator.host);
    try {
      await expect(warmRollbackCall(clients.services)).rejects.toThrow(/no stub yet/);
      await clients.services.initialize();
      const metadata = await warmRollbackCall(clients.services);

      // The answer's metadata went through the client's own decoder, as an UpdateService operation's does.
      expect(metadata.name).toBe('projects/lastgood-warm-up/locations/us-central1/services/warm-up');
      expect(metadata.traffic).toHaveLength(2);
      expect(emulator.calls.list()).toEqual([]);
    } finally {
      await clients.close();
    }
  });

  it('decodes a made-up Monitoring answer over the window into per-revision minutes, sending nothing', async () => {
    const client = createMonitoringClient(emulator.host);
    const window = { from: new Date('2026-12-03T10:00:00Z'), to: new Date('2026-12-03T12:00:00Z') };
    try {
      await expect(warmTelemetryDecoding(client, window)).rejects.toThrow(/no stub yet/);
      await client.initialize();
      const minutes = await warmTelemetryDecoding(client, window);

      // Through the client's own decoder and lastgood's folding, as a judged rollback's answer goes.
      expect(Object.keys(minutes).sort()).toEqual(['warm-up-00001-good', 'warm-up-00002-bad']);
      const good = minutes['warm-up-00001-good']!;
      expect(good).toHaveLength(120);
      expect(good[0]).toEqual({ minuteStart: new Date('2026-12-03T10:00:00Z'), total: 181, errors: 2 });
      expect(good.at(-1)).toEqual({ minuteStart: new Date('2026-12-03T11:59:00Z'), total: 60, errors: 0 });
      expect(emulator.calls.list()).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
