import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { traceContextOf } from '../../src/http/trace-context.ts';
import {
  createLogger,
  LOG_LABELS_KEY,
  loggerOptions,
  prettyLine,
  REPORTED_ERROR_EVENT,
} from '../../src/logger.ts';
import { EXAMPLE_POLICY, fireAlert, testEnv, useTestApps, WEBHOOK_TOKEN } from '../helpers/app.ts';

const start = useTestApps();

const PROJECT = 'demo-project';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

type Entry = Record<string, unknown> & { severity: string; message: string };

/** lastgood's log lines as Cloud Logging's agent reads them: one JSON object per line. */
function entries(logs: string[]): Entry[] {
  return logs.map((line) => JSON.parse(line) as Entry);
}

describe('log lines Cloud Logging understands', () => {
  it("writes severity, message and the request's trace from traceparent when the project is known", async () => {
    const t = await start({ env: { GOOGLE_CLOUD_PROJECT: PROJECT } });
    await t.app.server.inject({
      method: 'GET',
      url: '/healthz',
      headers: { traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` },
    });
    const line = entries(t.logs).find((entry) => entry.message === 'request completed');
    expect(line).toMatchObject({
      severity: 'INFO',
      message: 'request completed',
      'logging.googleapis.com/trace': `projects/${PROJECT}/traces/${TRACE_ID}`,
      'logging.googleapis.com/spanId': SPAN_ID,
      'logging.googleapis.com/trace_sampled': true,
      httpRequest: {
        requestMethod: 'GET',
        requestUrl: '/healthz',
        status: 200,
        latency: expect.stringMatching(/^\d+\.\d{3}s$/),
        protocol: 'HTTP/1.1',
      },
    });
    expect(line).not.toHaveProperty('msg');
    expect(line).not.toHaveProperty('@type');
  });

  it('takes the trace from X-Cloud-Trace-Context, its decimal span id in hex', async () => {
    const t = await start({ env: { GOOGLE_CLOUD_PROJECT: PROJECT } });
    await t.app.server.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-cloud-trace-context': `${TRACE_ID}/12345;o=0` },
    });
    expect(entries(t.logs).find((entry) => entry.message === 'request completed')).toMatchObject({
      'logging.googleapis.com/trace': `projects/${PROJECT}/traces/${TRACE_ID}`,
      'logging.googleapis.com/spanId': '0000000000003039',
      'logging.googleapis.com/trace_sampled': false,
    });
  });

  it('writes no trace field without GOOGLE_CLOUD_PROJECT', async () => {
    const t = await start();
    await t.app.server.inject({
      method: 'GET',
      url: '/healthz',
      headers: { traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` },
    });
    const line = entries(t.logs).find((entry) => entry.message === 'request completed');
    expect(line?.severity).toBe('INFO');
    expect(Object.keys(line!).filter((key) => key.includes('trace'))).toEqual([]);
  });

  it('keeps the token out of httpRequest.requestUrl as out of req.url', async () => {
    const t = await start();
    await t.app.server.inject({
      method: 'POST',
      url: `/webhook/error-budget-alert?auth_token=${WEBHOOK_TOKEN}`,
      payload: {},
    });
    const line = entries(t.logs).find((entry) => 'httpRequest' in entry);
    expect(line?.httpRequest).toMatchObject({
      requestUrl: '/webhook/error-budget-alert?auth_token=[REDACTED]',
    });
    expect(t.logs.join('\n')).not.toContain(WEBHOOK_TOKEN);
  });

  it("binds the decision to the alert's request line, by label", async () => {
    const t = await start({ env: { GOOGLE_CLOUD_PROJECT: PROJECT } });
    const accepted = await fireAlert(t);
    const alertRequest = entries(t.logs).find((entry) => entry.message === 'request completed');
    expect(alertRequest).toMatchObject({
      severity: 'INFO',
      httpRequest: { requestMethod: 'POST', status: 202 },
      decisionId: accepted.decisionId,
      reason: 'ROLLBACK',
      [LOG_LABELS_KEY]: { decisionId: accepted.decisionId, target: 'checkout' },
    });
    expect(alertRequest).not.toHaveProperty('@type');
  });
});

describe('errors for Error Reporting', () => {
  it("puts a logged Error's stack in stack_trace, where Error Reporting groups by it", () => {
    const lines: string[] = [];
    const logger = createLogger(
      'info',
      { write: (line: string) => void lines.push(line) },
      {
        serviceContext: { service: 'lastgood', version: 'lastgood-00003-xyz' },
      },
    );
    logger.error({ err: new Error('store unreachable') }, 'claiming jobs failed');
    logger.warn({ err: new Error('lease lost') }, 'lease renewal failed');
    const [error, warning] = entries(lines);
    expect(error).toMatchObject({
      severity: 'ERROR',
      message: 'claiming jobs failed',
      '@type': REPORTED_ERROR_EVENT,
      serviceContext: { service: 'lastgood', version: 'lastgood-00003-xyz' },
      stack_trace: expect.stringMatching(/^Error: store unreachable\n\s+at /),
    });
    expect(warning).toMatchObject({
      severity: 'WARNING',
      stack_trace: expect.stringContaining('lease lost'),
    });
    expect(warning).not.toHaveProperty('@type');
  });
});

describe('trace context headers', () => {
  it.each([
    ['a traceparent with an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-${SPAN_ID}-01` }],
    ['a traceparent of the forbidden version ff', { traceparent: `ff-${TRACE_ID}-${SPAN_ID}-01` }],
    ['a traceparent with a short span id', { traceparent: `00-${TRACE_ID}-abc-01` }],
    [
      'an X-Cloud-Trace-Context whose span overflows 64 bits',
      { 'x-cloud-trace-context': `${TRACE_ID}/99999999999999999999` },
    ],
    ['text in the header', { traceparent: 'hello; auth_token=secret' }],
  ])('ignores %s', (_what, headers) => {
    expect(traceContextOf(headers)).toBeNull();
  });

  it('prefers traceparent over X-Cloud-Trace-Context', () => {
    expect(
      traceContextOf({
        traceparent: `00-${TRACE_ID}-${SPAN_ID}-00`,
        'x-cloud-trace-context': `${'1'.repeat(32)}/1;o=1`,
      }),
    ).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, sampled: false });
  });
});

describe('pretty lines for a terminal', () => {
  it('takes LASTGOOD_LOG_FORMAT auto, json or pretty, and the platform variables as they come', () => {
    const load = (env: Record<string, string>) =>
      loadConfig(testEnv('/tmp/x', env), () => EXAMPLE_POLICY).log;
    expect(load({})).toEqual({ format: 'auto', traceProject: null, service: 'lastgood', version: null });
    expect(
      load({
        LASTGOOD_LOG_FORMAT: 'pretty',
        GOOGLE_CLOUD_PROJECT: PROJECT,
        K_SERVICE: 'lg',
        K_REVISION: 'lg-1',
      }),
    ).toEqual({ format: 'pretty', traceProject: PROJECT, service: 'lg', version: 'lg-1' });
    expect(() => load({ LASTGOOD_LOG_FORMAT: 'text' })).toThrow(/LASTGOOD_LOG_FORMAT/);
  });

  it('turns pretty on its own only when stdout is a terminal', () => {
    const log = { format: 'auto', traceProject: null, service: 'lastgood', version: null } as const;
    expect(loggerOptions(log, true).format).toBe('pretty');
    expect(loggerOptions(log, false).format).toBe('json');
    expect(loggerOptions({ ...log, format: 'json' }, true).format).toBe('json');
    expect(loggerOptions({ ...log, format: 'pretty' }, false).format).toBe('pretty');
  });

  it('writes pretty lines redacted as the JSON ones', () => {
    const lines: string[] = [];
    const logger = createLogger(
      'info',
      { write: (line: string) => void lines.push(line) },
      { format: 'pretty' },
    );
    logger.info({ req: { method: 'GET', url: `/x?auth_token=${WEBHOOK_TOKEN}` } }, 'request completed');
    expect(lines.join('')).toContain('auth_token=[REDACTED]');
    expect(lines.join('')).not.toContain(WEBHOOK_TOKEN);
    expect(lines.join('')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {5}request completed req=/);
  });

  it('shows time, severity and message first, then the fields, without what only Cloud Logging needs', () => {
    const line = prettyLine(
      JSON.stringify({
        severity: 'ERROR',
        level: 50,
        time: '2023-11-14T22:13:20.123Z',
        service: 'lastgood',
        '@type': REPORTED_ERROR_EVENT,
        serviceContext: { service: 'lastgood' },
        target: 'checkout',
        outcome: { state: 'failed' },
        message: 'rollback failed',
      }),
    );
    expect(line).toBe('22:13:20.123 ERROR    rollback failed target=checkout outcome={"state":"failed"}');
  });
});
