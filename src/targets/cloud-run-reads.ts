import type { IncidentEvidence, Telemetry } from '../domain/evidence.ts';
import type { RevisionInfo } from '../domain/last-known-good.ts';
import type { CloudRunTargetConfig, TargetConfig } from '../domain/target.ts';
import { LastgoodError } from '../errors.ts';
import { revisionInfo, type Service } from './cloud-run-traffic.ts';
import type { ExecutionContext } from './executor.ts';
import {
  allPages,
  callGoogleRecorded,
  type GoogleCallOptions,
  type GoogleCallPolicy,
  GRPC,
  googleErrorCode,
  PendingJobRecorder,
  type RollbackCalls,
  type StepRecorder,
} from './google-call.ts';
import type { CloudRunClients, MonitoringClient } from './google-clients.ts';
import { startTelemetryRead } from './judgement.ts';

type ListRevisionsRequest = Parameters<CloudRunClients['revisions']['listRevisions']>[0];

export function serviceName(target: CloudRunTargetConfig): string {
  return `projects/${target.project}/locations/${target.region}/services/${target.service}`;
}

/** The service as read, and when its answer came. */
export interface ServiceRead {
  service: Service;
  readAt: Date;
}

/** The reads an automatic rollback begins with, started at its decision (`CloudRunReads.startEarly`). */
export interface EarlyReads {
  target: TargetConfig;
  incident: IncidentEvidence;
  /** Where their retries are recorded: the job's timeline, once it runs. */
  recorder: PendingJobRecorder;
  service: Promise<ServiceRead>;
  revisions: Promise<RevisionInfo[]>;
  /** Null when the target's evidence is not judged. */
  telemetry: Promise<Telemetry> | null;
}

/** Whether `context` is the first attempt of the automatic rollback `early` was started for. */
export function startedFor(early: EarlyReads, context: ExecutionContext): boolean {
  return (
    context.target.name === early.target.name &&
    context.incident?.startedAt.getTime() === early.incident.startedAt.getTime() &&
    context.requestedRevision === null &&
    context.previous.fromRevision === null &&
    context.previous.toRevision === null
  );
}

/** The Cloud Run calls a rollback makes, each under the policy's deadline and retries, recorded where it says. */
export class CloudRunReads {
  readonly #clients: Pick<CloudRunClients, 'services' | 'revisions'>;
  readonly #policy: GoogleCallPolicy;
  readonly #monitoring: MonitoringClient | null;

  constructor(
    clients: Pick<CloudRunClients, 'services' | 'revisions'>,
    policy: GoogleCallPolicy,
    monitoring: MonitoringClient | null,
  ) {
    this.#clients = clients;
    this.#policy = policy;
    this.#monitoring = monitoring;
  }

  call<T>(
    recorder: StepRecorder | RollbackCalls | null,
    method: string,
    call: (options: GoogleCallOptions) => Promise<T>,
  ): Promise<T> {
    return callGoogleRecorded(recorder, method, this.#policy, call);
  }

  async service(recorder: StepRecorder | RollbackCalls, name: string): Promise<Service> {
    const [service] = await this.call(recorder, 'GetService', (options) =>
      this.#clients.services.getService({ name }, options),
    );
    return service;
  }

  async readService(
    recorder: StepRecorder | RollbackCalls,
    name: string,
    now: () => Date,
  ): Promise<ServiceRead> {
    const service = await this.service(recorder, name);
    return { service, readAt: now() };
  }

  revisions(recorder: StepRecorder | RollbackCalls, parent: string): Promise<RevisionInfo[]> {
    return allPages({ parent } as ListRevisionsRequest, (request) =>
      this.call(recorder, 'ListRevisions', (options) =>
        this.#clients.revisions.listRevisions(request, { ...options, autoPaginate: false }),
      ),
    ).then((found) => found.map(revisionInfo));
  }

  /** Throws LASTGOOD_ERR_REVISION_UNUSABLE unless `revision` of the target's service exists and is Ready. */
  async checkRevision(target: TargetConfig, revision: string): Promise<void> {
    if (target.kind !== 'cloud-run') throw new Error(`${target.name} is not a Cloud Run target`);
    const name = `${serviceName(target)}/revisions/${revision}`;
    let found: RevisionInfo;
    try {
      const [message] = await this.call(null, 'GetRevision', (options) =>
        this.#clients.revisions.getRevision({ name }, options),
      );
      found = revisionInfo(message);
    } catch (error) {
      if (googleErrorCode(error) !== GRPC.NOT_FOUND) throw error;
      throw new LastgoodError('LASTGOOD_ERR_REVISION_UNUSABLE', `Revision ${revision} does not exist`, {
        details: { revision, problem: 'not_found' },
      });
    }
    if (!found.ready) {
      throw new LastgoodError('LASTGOOD_ERR_REVISION_UNUSABLE', `Revision ${revision} is not Ready`, {
        details: { revision, problem: 'not_ready' },
      });
    }
  }

  /**
   * Sends the reads a rollback of `target` for `incident` begins with: GetService, ListRevisions and the Monitoring
   * read. Started as the rollback is decided, they leave while the decision's commit is made durable, rather than
   * once its job has started (its commit and fsync, the job's start and its reads of lastgood's own store: 5-6 ms).
   * The service read may be a few ms older than the job: the etag on UpdateService still refuses a plan made on a
   * service changed since.
   */
  startEarly(target: TargetConfig, incident: IncidentEvidence, now: () => Date): EarlyReads {
    if (target.kind !== 'cloud-run') throw new Error(`${target.name} is not a Cloud Run target`);
    const recorder = new PendingJobRecorder();
    const name = serviceName(target);
    const early: EarlyReads = {
      target,
      incident,
      recorder,
      service: this.readService(recorder, name, now),
      revisions: this.revisions(recorder, name),
      telemetry: startTelemetryRead(
        this.#monitoring,
        target,
        target,
        incident,
        now(),
        this.#policy,
        recorder,
      ),
    };
    // Awaited once the job runs, if it runs here; until then a failure is no unhandled rejection.
    early.service.catch(() => {});
    early.revisions.catch(() => {});
    return early;
  }
}
