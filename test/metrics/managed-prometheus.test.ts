import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import type { Emulator } from '../../src/emulator/emulator.ts';
import { createLocalMetricsServer, LOCAL_METRICS_HOST } from '../../src/http/local-metrics.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { EXAMPLE_POLICY, fireAlert, testEnv, useTestApps } from '../helpers/app.ts';
import { useExampleEmulator } from '../helpers/emulator.ts';
import { freePort, type LastgoodProcess, postAlert, startLastgood } from '../helpers/process.ts';
import { asObject, defaults, type JsonObject, loadTerraformDir, resolvedLocals } from '../terraform/hcl.ts';
import { parseSamples } from './scrape.ts';

const start = useTestApps();
let emulator: Emulator;
useExampleEmulator((started) => {
  emulator = started;
});
const LASTGOOD_MODULE = fileURLToPath(new URL('../../terraform/modules/lastgood/', import.meta.url));

/** What Cloud Run tells the collector about the instance it runs in. */
interface RunInstance {
  project: string;
  region: string;
  service: string;
  revision: string;
  instanceId: string;
}

/** One point as the collector writes it to Cloud Monitoring (Managed Service for Prometheus). */
interface ExportedPoint {
  metricType: string;
  resource: { type: 'prometheus_target'; labels: Record<string, string> };
  labels: Record<string, string>;
  value: number;
}

/** The RunMonitoring config the Terraform module renders into the collector's /etc/rungmp/config.yaml. */
async function renderedRunMonitoring(): Promise<{ config: JsonObject; localPort: number }> {
  const dir = await loadTerraformDir(LASTGOOD_MODULE);
  const locals = resolvedLocals(dir, { ...defaults(dir), project_id: 'lastgood-project' });
  const env = asObject(locals.container_env, 'container_env');
  return {
    config: asObject(locals.run_monitoring, 'run_monitoring'),
    localPort: Number(env.LASTGOOD_METRICS_LOCAL_PORT),
  };
}

/**
 * One scrape and export as the Cloud Run collector does it (run-gmp-sidecar's confgenerator): GET
 * `0.0.0.0:<port><path>` without credentials, keep names and labels (no suffixes added), label the target with
 * job = the config's name, namespace = the service, instance = `<instance id>:<port>`, and with the `instance`
 * metadata also `instanceId`. `port` is where this test's lastgood listens, standing in for the rendered one.
 */
async function collectOnce(config: JsonObject, port: number, run: RunInstance): Promise<ExportedPoint[]> {
  const spec = asObject(config.spec, 'spec');
  const endpoint = asObject((spec.endpoints as JsonObject[])[0], 'endpoint');
  const response = await fetch(`http://0.0.0.0:${port}${String(endpoint.path)}`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const kinds = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, kind]) => [name!, kind!]));
  const metadata = asObject(spec.targetLabels, 'targetLabels').metadata as string[];
  const targetLabels: Record<string, string> = {
    ...(metadata.includes('instance') ? { instanceId: run.instanceId } : {}),
    ...(metadata.includes('revision') ? { revision_name: run.revision } : {}),
    ...(metadata.includes('service') ? { service_name: run.service } : {}),
  };
  return parseSamples(text).map((sample) => {
    const family = [...kinds.keys()].find(
      (name) => sample.name === name || /^_(bucket|sum|count)$/.test(sample.name.slice(name.length)),
    );
    return {
      metricType: `prometheus.googleapis.com/${sample.name}/${kinds.get(family ?? sample.name) ?? 'unknown'}`,
      resource: {
        type: 'prometheus_target',
        labels: {
          project_id: run.project,
          location: run.region,
          cluster: '__run__',
          namespace: run.service,
          job: String(asObject(config.metadata, 'metadata').name),
          instance: `${run.instanceId}:${String(endpoint.port)}`,
        },
      },
      labels: { ...sample.labels, ...targetLabels },
      value: sample.value,
    };
  });
}

async function listenLocally(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, LOCAL_METRICS_HOST, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('metrics in Cloud Monitoring, through the Managed Service for Prometheus sidecar', () => {
  it("exports each instance's decision counter under its own name and labels, told apart by the instance label", async () => {
    const { config, localPort } = await renderedRunMonitoring();
    expect(
      String(asObject((asObject(config.spec, 'spec').endpoints as JsonObject[])[0], 'endpoint').port),
    ).toBe(String(localPort));

    const instances = ['00a1b2', '00c3d4'];
    const exported: ExportedPoint[][] = [];
    for (const instanceId of instances) {
      const t = await start();
      const decided = await fireAlert(t);
      expect(decided.reason).toBe('ROLLBACK');
      const server = createLocalMetricsServer(t.metrics);
      try {
        const port = await listenLocally(server);
        exported.push(
          await collectOnce(config, port, {
            project: 'lastgood-project',
            region: 'us-central1',
            service: 'lastgood',
            revision: 'lastgood-00002-abc',
            instanceId,
          }),
        );
      } finally {
        server.close();
      }
    }

    const decisionPoints = exported.map((points) =>
      points.find(
        (point) =>
          point.metricType === 'prometheus.googleapis.com/lastgood_decisions_total/counter' &&
          point.labels.reason === 'ROLLBACK' &&
          point.labels.target === 'checkout',
      ),
    );
    expect(decisionPoints.map((point) => point?.value)).toEqual([1, 1]);
    expect(decisionPoints.map((point) => point?.resource.labels.instance)).toEqual(
      instances.map((id) => `${id}:${localPort}`),
    );
    expect(decisionPoints[0]).toMatchObject({
      resource: { labels: { namespace: 'lastgood', job: 'lastgood', cluster: '__run__' } },
      labels: {
        reason: 'ROLLBACK',
        target: 'checkout',
        instanceId: instances[0],
        revision_name: 'lastgood-00002-abc',
      },
    });
    // The gauges read from the store come along, and a histogram keeps its series.
    expect(exported[0]!.map((point) => point.metricType)).toEqual(
      expect.arrayContaining([
        'prometheus.googleapis.com/lastgood_outbox_backlog/gauge',
        'prometheus.googleapis.com/lastgood_job_queue_depth/gauge',
      ]),
    );
  });

  it('keeps GET /metrics on the public port behind the viewer token, and answers nothing else locally', async () => {
    const t = await start();
    const refused = await t.app.server.inject({ method: 'GET', url: '/metrics' });
    expect(refused.statusCode).toBe(401);
    const server = createLocalMetricsServer(t.metrics);
    try {
      const port = await listenLocally(server);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/rollback/recent`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(404);
    } finally {
      server.close();
    }
  });
});

describe('LASTGOOD_METRICS_LOCAL_PORT', () => {
  const load = (port: string) =>
    loadConfig(testEnv('/tmp/x', { PORT: '8080', LASTGOOD_METRICS_LOCAL_PORT: port }), () => EXAMPLE_POLICY);

  it('is off unless set, and refused outside 1-65535 or on the API port', () => {
    expect(loadConfig(testEnv('/tmp/x'), () => EXAMPLE_POLICY).metricsLocalPort).toBeNull();
    expect(load('9464').metricsLocalPort).toBe(9464);
    for (const port of ['0', '65536', 'x'])
      expect(() => load(port), port).toThrow(/LASTGOOD_METRICS_LOCAL_PORT/);
    expect(() => load('8080')).toThrow(/LASTGOOD_METRICS_LOCAL_PORT: must differ from PORT/);
  });
});

describe('a real lastgood process with LASTGOOD_METRICS_LOCAL_PORT', () => {
  let lastgood: LastgoodProcess | null = null;
  afterEach(async () => {
    await lastgood?.dispose();
  });

  it('serves the counters without a token on 127.0.0.1 at that port, where the collector scrapes', async () => {
    const port = await freePort();
    lastgood = await startLastgood({
      name: 'metrics-local',
      env: {
        LASTGOOD_METRICS_LOCAL_PORT: String(port),
        CLOUD_RUN_EMULATOR_HOST: emulator.host,
        CLOUD_DEPLOY_EMULATOR_HOST: emulator.host,
        MONITORING_EMULATOR_HOST: emulator.host,
      },
    });
    await lastgood.waitReady();
    const alert = await postAlert(lastgood.url, burnRateAlert({ target: 'checkout' }));
    expect(alert.body?.reason).toBe('ROLLBACK');

    const response = await fetch(`http://0.0.0.0:${port}/metrics`);
    expect(response.status).toBe(200);
    const samples = parseSamples(await response.text());
    expect(
      samples.find(
        (sample) =>
          sample.name === 'lastgood_decisions_total' &&
          sample.labels.reason === 'ROLLBACK' &&
          sample.labels.target === 'checkout',
      )?.value,
    ).toBe(1);
    // The public port still wants the viewer token.
    expect((await fetch(`${lastgood.url}/metrics`)).status).toBe(401);
  });
});
