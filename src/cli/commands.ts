import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { parseDuration } from '../config/durations.ts';
import { isActiveRollback, type RollbackState } from '../domain/types.ts';
import type { auditVerifyRoute } from '../http/routes/audit.ts';
import type { manualRollbackAcceptedSchema } from '../http/routes/operator.ts';
import type { recentRoute } from '../http/routes/status.ts';
import type { alertSchema, statusSchema } from '../http/schemas.ts';
import { ApiError } from './api.ts';
import { type Command, type CommandContext, EXIT_TIMED_OUT, UsageError } from './command.ts';
import { cell, confidence, cut, fields, type Layout, PLAIN, red, table, when } from './format.ts';

type Status = z.infer<typeof statusSchema>;
type Recent = z.infer<(typeof recentRoute.responses)[200]['schema']>;
type Alert = z.infer<typeof alertSchema>;
type ManualRollbackAccepted = z.infer<typeof manualRollbackAcceptedSchema>;
type AuditVerification = z.infer<(typeof auditVerifyRoute.responses)[200]['schema']>;

/**
 * How `rollback --wait` polls: 1 s, doubling to at most 5 s, so a long rollback costs about 12 requests a minute of
 * the operator budget (120 by default) and a short one is still seen ending within a second or two.
 */
const WAIT_FIRST_POLL_MS = 1_000;
const WAIT_MAX_POLL_MS = 5_000;
/** How long `--wait` follows a rollback by default: past the server's default 5 min rollback timeout. */
const WAIT_DEFAULT_TIMEOUT = '10m';

function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

/** Whether a succeeded rollback healed the service, as a person needs to read it. */
function verificationText(rollback: NonNullable<Status['rollback']>, layout: Layout): string {
  if (rollback.verification === 'pending')
    return `pending: healed if the incident closes by ${when(rollback.verifyBy)}`;
  if (rollback.verification === 'healed') return `healed (incident closed ${when(rollback.verifiedAt)})`;
  return `${red('NOT HEALED', layout)} by ${when(rollback.verifyBy)}: the target waits for a person (POST /v1/targets/:name/resume)`;
}

/** A timeline step's detail in one line. The `judged` step's evidence is shown apart, under `judgement`. */
function detailText(step: string, detail: Record<string, unknown>): string {
  if (step === 'judged') return `${String(detail.verdict)} (${String(detail.reason)})`;
  return Object.keys(detail).length === 0 ? '' : JSON.stringify(detail);
}

type Judgement = NonNullable<Status['judgement']>;

/** An error ratio as a percentage; `-` below the minimum number of requests, where it is not measured. */
function ratioText(ratio: number | null): string {
  return ratio === null ? '-' : `${(ratio * 100).toFixed(2)}%`;
}

/**
 * The rows of the per-revision table: the windows the judgement compared; when it decided on timing alone, each
 * revision's own requests from the onset (else the earliest the errors can have begun) on, read from the series.
 */
function revisionRows(judgement: Judgement): { rows: string[][]; note: string | null } {
  const { summary, series } = judgement;
  if (summary.windows.length > 0) {
    return {
      note: null,
      rows: summary.windows.map((window) => [
        window.revision,
        window.role,
        when(window.from),
        when(window.to),
        String(window.requests),
        String(window.errors),
        ratioText(window.ratio),
      ]),
    };
  }
  if (series === null) return { rows: [], note: '(no per-revision series: the verdict rests on timing)' };
  const from = summary.onset ?? summary.earliestErrorsAt;
  const roles: Record<string, string> = {};
  if (summary.baseline !== null) roles[summary.baseline] = 'baseline';
  if (summary.suspect !== null) roles[summary.suspect] = 'suspect';
  const rows = Object.entries(series).map(([revision, minutes]) => {
    const since = minutes.filter(([at]) => at >= from);
    const requests = since.reduce((sum, [, total]) => sum + total, 0);
    const errors = since.reduce((sum, [, , failed]) => sum + failed, 0);
    const last = since.at(-1)?.[0] ?? null;
    return [
      revision,
      roles[revision] ?? '-',
      when(from),
      when(last),
      String(requests),
      String(errors),
      ratioText(requests === 0 ? null : errors / requests),
    ];
  });
  return { rows, note: '(not compared by the judgement: each revision since the onset, from the series)' };
}

/** The evidence a rollback was judged on: the verdict, who is suspected against what, when, and the ratios. */
export function formatJudgement(judgement: Judgement, layout: Layout = PLAIN): string {
  const { summary } = judgement;
  const lines: [string, string][] = [
    [
      'judgement',
      `${judgement.verdict === 'hold' ? red('HOLD', layout) : 'rollback'} / ${judgement.reason}  (judged ${when(judgement.judgedAt)})`,
    ],
    ['suspect', cell(summary.suspect)],
    ['baseline', `${cell(summary.baseline)}${summary.split ? '  (serving beside it: a traffic split)' : ''}`],
    [
      'change',
      summary.change === null ? 'unknown' : `${when(summary.change.at)}  (from ${summary.change.source})`,
    ],
    ['onset', summary.onset === null ? 'not seen in the series' : when(summary.onset)],
    ['alert began', `${when(summary.startedAt)}  (errors at the earliest ${when(summary.earliestErrorsAt)})`],
    [
      'telemetry',
      `${summary.telemetry.status}${summary.telemetry.message === null ? '' : `: ${summary.telemetry.message}`}`,
    ],
    [
      'correlated',
      summary.correlated.length === 0
        ? 'no other target alerting'
        : summary.correlated
            .map((incident) => `${incident.target} (changed recently: ${String(incident.changedRecently)})`)
            .join(', '),
    ],
  ];
  const { rows, note } = revisionRows(judgement);
  const windows =
    rows.length === 0
      ? ''
      : `\n\n${table(['REVISION', 'ROLE', 'FROM', 'TO', 'REQUESTS', 'ERRORS', 'RATIO'], rows, layout)}`;
  return `${fields(lines, layout)}${windows}${note === null ? '' : `\n${note}`}`;
}

/** Everything `GET /rollback/status/:id` says, for a person: the decision, its factors, the judgement and the timeline. */
export function formatStatus(status: Status, layout: Layout = PLAIN): string {
  const { decision, alert, rollback } = status;
  const summary: [string, string][] = [
    ['decision', `${decision.id}  ${when(decision.decidedAt)}`],
    ['target', cell(decision.target)],
    ['outcome', `${decision.action} / ${decision.reason}  (confidence ${decision.confidence.toFixed(3)})`],
  ];
  if (decision.nextEligibleAt !== null) summary.push(['next eligible', when(decision.nextEligibleAt)]);
  if (decision.requestedBy !== null) {
    summary.push([
      'requested by',
      `${decision.requestedBy}${decision.requestedRevision === null ? '' : ` (revision ${decision.requestedRevision})`}`,
    ]);
  }
  if (alert !== null) {
    summary.push([
      'alert',
      `${alert.id}  incident ${alert.incidentId} (${alert.state}, ${alert.source}), received ${when(alert.receivedAt)}`,
    ]);
    summary.push([
      'acknowledged',
      alert.acknowledgedBy === null ? 'no' : `by ${alert.acknowledgedBy} at ${when(alert.acknowledgedAt)}`,
    ]);
  }
  if (rollback !== null) {
    summary.push([
      'rollback',
      `${rollback.state}  ${cell(rollback.fromRevision)} -> ${cell(rollback.toRevision)}` +
        (rollback.lkgRule === null ? '' : `  (rule ${rollback.lkgRule})`),
    ]);
    if (rollback.error !== null) summary.push(['error', `${rollback.error.code}: ${rollback.error.message}`]);
    if (rollback.verification !== null) summary.push(['verification', verificationText(rollback, layout)]);
  }
  const factors = table(
    ['FACTOR', 'VALUE', 'EFFECT'],
    decision.factors.map((factor) => [factor.name, cell(factor.value), factor.effect]),
    layout,
  );
  const timeline = table(
    ['AT', '+MS', 'STEP', 'DETAIL'],
    status.timeline.map((event) => [
      when(event.at),
      cell(event.sincePreviousMs),
      event.step,
      detailText(event.step, event.detail),
    ]),
    layout,
  );
  const judgement = status.judgement === null ? '' : `\n\n${formatJudgement(status.judgement, layout)}`;
  return `${fields(summary, layout)}\n\n${factors}${judgement}\n\n${timeline}`;
}

const status: Command = {
  usage: 'status <dec_...|alt_...>',
  summary: 'one decision: why, its factors, the rollback and its timeline',
  options: {},
  async run(context, { positionals }) {
    const id = onePositional(positionals, 'decision or alert id');
    const answer = await context.api().request<Status>('GET', `/rollback/status/${encodeURIComponent(id)}`);
    context.print(answer, formatStatus);
    return 0;
  },
};

const recent: Command = {
  usage: 'recent [--hours 24] [--limit 50] [--action rollback|none] [--cursor C]',
  summary: 'decisions of the last hours, newest first',
  options: {
    hours: { type: 'string' },
    limit: { type: 'string' },
    action: { type: 'string' },
    cursor: { type: 'string' },
  },
  async run(context, { values }) {
    const answer = await context.api().request<Recent>('GET', '/rollback/recent', {
      query: {
        hours: values.hours as string | undefined,
        limit: values.limit as string | undefined,
        action: values.action as string | undefined,
        cursor: values.cursor as string | undefined,
      },
    });
    context.print(answer, (page, layout) => {
      const rows = page.items.map(({ decision, alert, rollback }) => [
        when(decision.decidedAt),
        decision.id,
        cell(decision.target),
        decision.reason,
        confidence(decision.confidence),
        rollback === null
          ? '-'
          : `${rollback.state}${rollback.verification === null ? '' : ` (${rollback.verification})`}`,
        rollback === null ? '-' : `${cell(rollback.fromRevision)} -> ${cell(rollback.toRevision)}`,
        alert === null ? `manual: ${cell(decision.requestedBy)}` : alert.incidentId,
      ]);
      const text = table(
        ['DECIDED', 'DECISION', 'TARGET', 'REASON', 'CONF', 'ROLLBACK', 'REVISIONS', 'INCIDENT'],
        rows,
        layout,
      );
      const more = page.nextCursor === null ? '' : `\nmore: lastgood recent --cursor ${page.nextCursor}`;
      return `${rows.length === 0 ? 'no decisions in the window' : text}${more}`;
    });
    return 0;
  },
};

/** Where `--wait` stopped: the rollback's last status, and whether it was still running when time ran out. */
type WaitOutcome = { timedOut: false; status: Status } | { timedOut: true; status: Status | undefined };

/**
 * Polls a decision until its rollback ends or `timeoutMs` passes, printing each new timeline step on stderr as it
 * appears. A 429 waits out its Retry-After (at least the backoff) instead of failing a rollback that is fine.
 */
async function waitForOutcome(
  context: CommandContext,
  decisionId: string,
  timeoutMs: number,
): Promise<WaitOutcome> {
  const deadline = context.now() + timeoutMs;
  const path = `/rollback/status/${encodeURIComponent(decisionId)}`;
  let delay = WAIT_FIRST_POLL_MS;
  let seen = 0;
  let last: Status | undefined;
  for (;;) {
    let wait = delay;
    try {
      last = await context.api().request<Status>('GET', path);
      for (const event of last.timeline.slice(seen)) {
        context.progress(
          cut(
            `lastgood: ${when(event.at)}  ${event.step}  ${detailText(event.step, event.detail)}`.trimEnd(),
            context.layout.width,
          ),
        );
      }
      seen = Math.max(seen, last.timeline.length);
      const state = last.rollback?.state as RollbackState | undefined;
      if (state === undefined || !isActiveRollback(state)) return { status: last, timedOut: false };
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 429)) throw error;
      wait = Math.max(delay, error.retryAfterMs ?? 0);
      context.progress(`lastgood: rate limited (429), asking again in ${Math.ceil(wait / 1000)}s`);
    }
    const left = deadline - context.now();
    if (left <= 0) return { status: last, timedOut: true };
    await context.sleep(Math.min(wait, left));
    delay = Math.min(delay * 2, WAIT_MAX_POLL_MS);
  }
}

const rollback: Command = {
  usage: `rollback <target> [--revision NAME] [--wait [--timeout ${WAIT_DEFAULT_TIMEOUT}]]`,
  summary: `roll a target back now (operator); --wait follows it to the end, or exits ${EXIT_TIMED_OUT} after --timeout`,
  options: { revision: { type: 'string' }, wait: { type: 'boolean' }, timeout: { type: 'string' } },
  async run(context, { values, positionals }) {
    const target = onePositional(positionals, 'target name');
    const timeoutText = (values.timeout as string | undefined) ?? WAIT_DEFAULT_TIMEOUT;
    const timeoutMs = parseDuration(timeoutText);
    if (timeoutMs === null || timeoutMs === 0)
      throw new UsageError(`--timeout: a duration like 90s or 10m, not "${timeoutText}"`);
    if (values.timeout !== undefined && values.wait !== true)
      throw new UsageError('--timeout goes with --wait');
    const accepted = await context
      .api()
      .request<ManualRollbackAccepted>('POST', `/rollback/manual/${encodeURIComponent(target)}`, {
        query: { target_revision: values.revision as string | undefined },
      });
    if (values.wait !== true) {
      context.print(
        accepted,
        (answer) =>
          `rollback of ${answer.target} queued: decision ${answer.decisionId}, requested by ${answer.requestedBy}\n` +
          `follow it: lastgood status ${answer.decisionId}`,
      );
      return 0;
    }
    context.progress(`lastgood: rollback of ${accepted.target} queued as ${accepted.decisionId}, waiting`);
    const done = await waitForOutcome(context, accepted.decisionId, timeoutMs);
    if (done.timedOut) {
      context.progress(
        `lastgood: gave up waiting after ${timeoutText}: the rollback is still ${done.status?.rollback?.state ?? 'not done'} ` +
          `and goes on without the CLI; follow it: lastgood status ${accepted.decisionId}`,
      );
      return EXIT_TIMED_OUT;
    }
    context.print(done.status, formatStatus);
    return done.status.rollback?.state === 'succeeded' ? 0 : 1;
  },
};

const ack: Command = {
  usage: 'ack <alt_...>',
  summary: 'mark an alert as seen by a person (operator)',
  options: {},
  async run(context, { positionals }) {
    const id = onePositional(positionals, 'alert id');
    const alert = await context.api().request<Alert>('POST', `/alerts/${encodeURIComponent(id)}/acknowledge`);
    context.print(
      alert,
      (answer) =>
        `${answer.id} (incident ${answer.incidentId}) acknowledged by ${answer.acknowledgedBy} at ${when(answer.acknowledgedAt)}`,
    );
    return 0;
  },
};

const auditVerify: Command = {
  usage: 'audit-verify',
  summary: "recompute the audit log's hash chain; exit 1 when it is broken",
  options: {},
  async run(context, { positionals }) {
    if (positionals.length > 0) throw new UsageError('audit-verify takes no arguments');
    const answer = await context.api().request<AuditVerification>('GET', '/v1/audit/verify');
    context.print(answer, ({ ok, rows, firstBrokenRow }, layout) => {
      if (ok || firstBrokenRow === undefined) return `audit chain intact: ${rows} rows`;
      return fields(
        [
          [
            'audit chain',
            `${red('BROKEN', layout)} at row ${firstBrokenRow.seq}: ${firstBrokenRow.problem} (${rows} rows read)`,
          ],
          ['expected hash', firstBrokenRow.expectedHash],
          ['stored hash', cell(firstBrokenRow.storedHash)],
        ],
        layout,
      );
    });
    return answer.ok ? 0 : 1;
  },
};

const hashToken: Command = {
  usage: 'hash-token [--name NAME --role viewer|operator|admin] < token',
  summary:
    'the SHA-256 LASTGOOD_OPERATOR_TOKENS wants, of a token read from stdin (kept out of shell history)',
  options: { name: { type: 'string' }, role: { type: 'string' } },
  async run(context, { values }) {
    const token = (await context.readStdin()).trim();
    if (token.length === 0)
      throw new UsageError('pipe the token on stdin, e.g. printf %s "$TOKEN" | lastgood hash-token');
    const hash = createHash('sha256').update(token, 'utf8').digest('hex');
    const { name, role } = values as { name?: string; role?: string };
    if ((name === undefined) !== (role === undefined))
      throw new UsageError('give --name and --role together');
    context.out(name === undefined ? hash : `${name}:${role}:${hash}`);
    return 0;
  },
};

/** The commands that call a running lastgood's REST API, plus the offline hash-token. */
export const API_COMMANDS: Readonly<Record<string, Command>> = {
  status,
  recent,
  rollback,
  ack,
  'audit-verify': auditVerify,
  'hash-token': hashToken,
};
