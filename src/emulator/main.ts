import { z } from 'zod';
import { startEmulator } from './emulator.ts';
import { describeIssues, loadFixtureFile } from './fixture.ts';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/** The emulator's own settings; unrelated keys in the environment are ignored. */
const envSchema = z.object({
  LASTGOOD_EMULATOR_PORT: port(8085),
  LASTGOOD_EMULATOR_ADMIN_PORT: port(8086),
  LASTGOOD_EMULATOR_BIND_HOST: z.string().min(1).default('127.0.0.1'),
  LASTGOOD_EMULATOR_FIXTURE: z.string().min(1).default('examples/emulator-fixture.yaml'),
  LASTGOOD_EMULATOR_OPERATION_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(30),
});

/**
 * `npm run emulator [fixture.yaml]`: serves the emulated Google APIs until SIGTERM or SIGINT. The fixture comes from
 * the argument, else LASTGOOD_EMULATOR_FIXTURE, else examples/emulator-fixture.yaml.
 */
async function main(): Promise<void> {
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) {
    process.stderr.write(`emulator: ${describeIssues('environment', parsed.error)}\n`);
    process.exit(78);
  }
  const env = parsed.data;
  const fixturePath = process.argv[2] ?? env.LASTGOOD_EMULATOR_FIXTURE;
  const emulator = await startEmulator({
    port: env.LASTGOOD_EMULATOR_PORT,
    adminPort: env.LASTGOOD_EMULATOR_ADMIN_PORT,
    bindHost: env.LASTGOOD_EMULATOR_BIND_HOST,
    fixture: await loadFixtureFile(fixturePath),
    operationDelayMs: env.LASTGOOD_EMULATOR_OPERATION_DELAY_MS,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`emulator: ${signal}, stopping\n`);
    await emulator.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  process.stdout.write(
    [
      `emulator: fixture ${fixturePath}`,
      `emulator: gRPC on ${emulator.host} (Cloud Run v2, Cloud Deploy v1, Secret Manager v1, Monitoring v3)`,
      `emulator: admin on ${emulator.adminUrl} (GET /state, GET /calls, GET|POST|DELETE /faults, POST /reset,` +
        ' POST /cloud-deploy/releases, POST|PATCH /cloud-deploy/rollouts, PUT /cloud-run/traffic,' +
        ' POST /cloud-run/revisions, PUT|POST /monitoring/requests)',
      `emulator: point lastgood at it with CLOUD_RUN_EMULATOR_HOST=${emulator.host}` +
        ` CLOUD_DEPLOY_EMULATOR_HOST=${emulator.host} SECRET_MANAGER_EMULATOR_HOST=${emulator.host}` +
        ` MONITORING_EMULATOR_HOST=${emulator.host}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `emulator: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
