import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { isActiveRollback, type RollbackState } from '../domain/types.ts';
import type { auditVerifyRoute } from '../http/routes/audit.ts';
import type { manualRollbackAcceptedSchema } from '../http/routes/operator.ts';
import type { recentRoute } from '../http/routes/status.ts';
import type { alertSchema, statusSchema } from '../http/schemas.ts';
import { type Command, type CommandContext, UsageError } from './command.ts';
import { cell, confidence, fields, table, when } from './format.ts';

type Status = z.infer<typeof statusSchema>;
type Recent = z.infer<(typeof recentRoute.responses)[200]['schema']>;
type Alert = z.infer<typeof alertSchema>;
type ManualRollbackAccepted = z.infer<typeof manualRollbackAcceptedSchema>;
type AuditVerification = z.infer<(typeof auditVerifyRoute.responses)[200]['schema']>;

/** How often `rollback --wait` asks for the outcome, and for how long (past the default 5 min rollback timeout). */
const WAIT_POLL_MS = 500;
const WAIT_LIMIT_MS = 10 * 60_000;

function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

/** Whether a succeeded rollback healed the service, as a person needs to read it. */
function verificationText(rollback: NonNullable<Status['rollback']>): string {
  if (rollback.verification === 'pending')
    return `pending: healed if the incident closes by ${when(rollback.verifyBy)}`;
  if (rollback.verification === 'healed') return `healed (incident closed ${when(rollback.verifiedAt)})`;
  return `NOT HEALED by ${when(rollback.verifyBy)}: the target waits for a person (POST /v1/targets/:name/resume)`;
}

/** Everything `GET /rollback/status/:id` says, for a person: the decision, its factors and the timeline. */
export function formatStatus(status: Status): string {
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
    if (rollback.verification !== null) summary.push(['verification', verificationText(rollback)]);
  }
  const factors = table(
    ['FACTOR', 'VALUE', 'EFFECT'],
    decision.factors.map((factor) => [factor.name, cell(factor.value), factor.effect]),
  );
  const timeline = table(
    ['AT', '+MS', 'STEP', 'DETAIL'],
    status.timeline.map((event) => [
      when(event.at),
      cell(event.sincePreviousMs),
      event.step,
      Object.keys(event.detail).length === 0 ? '' : JSON.stringify(event.detail),
    ]),
  );
  return `${fields(summary)}\n\n${factors}\n\n${timeline}`;
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
    context.print(answer, (page) => {
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
      );
      const more = page.nextCursor === null ? '' : `\nmore: lastgood recent --cursor ${page.nextCursor}`;
      return `${rows.length === 0 ? 'no decisions in the window' : text}${more}`;
    });
    return 0;
  },
};

async function waitForOutcome(context: CommandContext, decisionId: string): Promise<Status> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const current = await context.api().request<Status>('GET', `/rollback/status/${decisionId}`);
    const state = current.rollback?.state as RollbackState | undefined;
    if (state === undefined || !isActiveRollback(state) || Date.now() > deadline) return current;
    await context.sleep(WAIT_POLL_MS);
  }
}

const rollback: Command = {
  usage: 'rollback <target> [--revision NAME] [--wait]',
  summary: 'roll a target back now (operator); --wait follows it to the end',
  options: { revision: { type: 'string' }, wait: { type: 'boolean' } },
  async run(context, { values, positionals }) {
    const target = onePositional(positionals, 'target name');
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
    const done = await waitForOutcome(context, accepted.decisionId);
    context.print(done, formatStatus);
    return done.rollback?.state === 'succeeded' ? 0 : 1;
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
    context.print(answer, ({ ok, rows, firstBrokenRow }) => {
      if (ok || firstBrokenRow === undefined) return `audit chain intact: ${rows} rows`;
      return fields([
        ['audit chain', `BROKEN at row ${firstBrokenRow.seq}: ${firstBrokenRow.problem} (${rows} rows read)`],
        ['expected hash', firstBrokenRow.expectedHash],
        ['stored hash', cell(firstBrokenRow.storedHash)],
      ]);
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
