import type { v3 as monitoring } from '@google-cloud/monitoring';
import type { MinuteCount } from '../domain/evidence.ts';
import { stubMethod } from './google-clients.ts';
import { perRevisionMinutes } from './monitoring.ts';

const MINUTE_MS = 60_000;
const SERVICE = 'warm-up';
const REVISIONS = ['warm-up-00001-good', 'warm-up-00002-bad'];

/**
 * How often the made-up answer is decoded. One decode leaves the decoder cold: after the warm-up's one real read,
 * the demo's first alert still took 3.1-3.7 ms to decode its ListTimeSeries answer (10.9 KB), ahead of the
 * rollback's GetService answer that arrived with it; after a dozen, 1.0-2.0 ms in 11 of 13 runs.
 */
const DECODES = 12;

function timestamp(ms: number) {
  return { seconds: Math.floor(ms / 1000), nanos: 0 };
}

/**
 * What Monitoring answers for a Cloud Run service over `window`: request counts per minute for two revisions and
 * two response code classes, newest point first, shaped as lastgood's ListTimeSeries asks for them.
 */
function madeUpAnswer(window: { from: Date; to: Date }) {
  const minutes = Math.max(1, Math.floor((window.to.getTime() - window.from.getTime()) / MINUTE_MS));
  const timeSeries = REVISIONS.flatMap((revision) =>
    ['2xx', '5xx'].map((responseCodeClass) => ({
      metric: {
        type: 'run.googleapis.com/request_count',
        labels: { response_code_class: responseCodeClass },
      },
      resource: {
        type: 'cloud_run_revision',
        labels: { revision_name: revision, service_name: SERVICE, location: 'us-central1' },
      },
      metricKind: 'DELTA',
      valueType: 'INT64',
      points: Array.from({ length: minutes }, (_, index) => {
        const end = window.to.getTime() - index * MINUTE_MS;
        return {
          interval: { startTime: timestamp(end - MINUTE_MS), endTime: timestamp(end) },
          value: { int64Value: responseCodeClass === '5xx' ? index % 3 : 60 + index },
        };
      }),
    })),
  );
  return { timeSeries, nextPageToken: '' };
}

/**
 * Decodes a made-up ListTimeSeries answer over `window` with the client's own decoder, and folds it into
 * per-revision minutes as a judged rollback does, `DECODES` times, sending nothing. The warm-up's real read goes
 * through the client once; this runs the decoding often enough for V8 to optimise it, so the first alert's answer
 * is decoded warm. Call it once the client's stub is built (`initialize()`). Answers the minutes of the last
 * decode; throws if the stub has no ListTimeSeries codecs, since it would then warm nothing.
 */
export async function warmTelemetryDecoding(
  client: Pick<monitoring.MetricServiceClient, 'metricServiceStub'>,
  window: { from: Date; to: Date },
): Promise<Record<string, MinuteCount[]>> {
  const list = stubMethod(
    (await client.metricServiceStub) as Record<string, unknown> | undefined,
    'listTimeSeries',
  );
  const bytes = list.responseSerialize(madeUpAnswer(window));
  let minutes: Record<string, MinuteCount[]> = {};
  for (let decode = 0; decode < DECODES; decode++) {
    const answer = list.responseDeserialize(bytes) as {
      timeSeries: Parameters<typeof perRevisionMinutes>[0];
    };
    minutes = perRevisionMinutes(answer.timeSeries);
  }
  return minutes;
}
