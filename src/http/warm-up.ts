import type { FastifyInstance } from 'fastify';
import type { Evidence, MinuteCount } from '../domain/evidence.ts';
import { judge, judgedStep } from '../domain/judge.ts';
import { DEFAULT_JUDGEMENT_POLICY } from '../domain/judgement-policy.ts';
import { warmDecision } from '../domain/warm-up.ts';
import { WARM_UP_NOTIFICATION } from '../ingest/warm-up.ts';
import type { Store } from '../store/store.ts';
import { webhookRoute } from './routes/webhook.ts';
import { judgementView } from './schemas.ts';

const MINUTE_MS = 60_000;
/** A fixed time, far from any real alert: the warm-up reads no clock. */
const NOW = Date.UTC(2000, 0, 1, 12);

function perMinute(fromMinute: number, toMinute: number, total: number, errors: number): MinuteCount[] {
  return Array.from({ length: toMinute - fromMinute }, (_, index) => ({
    minuteStart: new Date(NOW + (fromMinute + index) * MINUTE_MS),
    total,
    errors,
  }));
}

/**
 * A made-up bad release: a revision serving for 10 minutes, failing since it started, beside a healthy one from
 * days before, judged over the default two-hour window.
 */
function badReleaseEvidence(): Evidence {
  return {
    incident: {
      startedAt: new Date(NOW - 5 * MINUTE_MS),
      lookbackMs: 60 * MINUTE_MS,
      conditionDurationMs: 0,
    },
    revisions: [
      { name: 'warm-up-00002-bad', ready: true, createdAt: new Date(NOW - 10 * MINUTE_MS) },
      { name: 'warm-up-00001-good', ready: true, createdAt: new Date(NOW - 4 * 1_440 * MINUTE_MS) },
    ],
    traffic: { 'warm-up-00002-bad': 100 },
    trafficRecords: [],
    telemetry: {
      status: 'ok',
      from: new Date(NOW - 120 * MINUTE_MS),
      to: new Date(NOW),
      series: {
        'warm-up-00001-good': perMinute(-120, -10, 1_000, 1),
        'warm-up-00002-bad': perMinute(-10, 0, 1_000, 200),
      },
    },
    rollout: null,
    lastKnownGood: 'warm-up-00001-good',
    correlated: [],
  };
}

/**
 * Judges a made-up bad release and shows the verdict as the status API would, storing nothing and calling no one:
 * the first judgement of a process and the first status read showing one each compiled their code (2-3 ms and
 * about 13 ms here), the first on the first rollback's way to UpdateService. Call it once the process is ready.
 * Throws if the verdict no longer reads as a judgement, since the view would then warm only its refusal.
 */
export function warmJudgement() {
  const evidence = badReleaseEvidence();
  const judgement = judge(evidence, DEFAULT_JUDGEMENT_POLICY);
  const view = judgementView([
    {
      at: new Date(NOW),
      step: 'judged',
      detail: judgedStep(judgement, evidence),
    },
  ]);
  if (view === null) throw new Error('the warm-up judgement does not read as one');
  return view;
}

/**
 * Reads a made-up notification's body with the JSON parser the routes use, and its query with the webhook route's
 * schema: the parser's checks for prototype poisoning compile their regular expressions at their first use, and zod
 * compiles an object schema at its first parse, both on the first alert's way to its ack. Throws if the body no
 * longer parses, since only the refusal would then be warm.
 */
export function warmWebhookRequest(server: FastifyInstance): unknown {
  let parsed: unknown;
  server.getDefaultJsonParser('error', 'error')(
    undefined as never,
    JSON.stringify(WARM_UP_NOTIFICATION),
    (error, body) => {
      if (error) throw error;
      parsed = body;
    },
  );
  webhookRoute.query.parse({ auth_token: 'warm-up' });
  return parsed;
}

/**
 * Runs lastgood's own code on the first alert's path, on made-up data, storing nothing and calling no one: the
 * request's parsing (`warmWebhookRequest`), the decision (`warmDecision`) and the store's part of deciding and of
 * starting the rollback (`Store.warmUp`). The first alert of a process otherwise compiled all of it on its way to
 * its ack and to UpdateService. Call it once the process is ready.
 */
export async function warmFirstAlert(server: FastifyInstance, store: Store): Promise<void> {
  warmWebhookRequest(server);
  warmDecision();
  await store.warmUp();
}
