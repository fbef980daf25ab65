import { randomUUID } from 'node:crypto';
import type { PackedAny } from './protos.ts';
import { invalidArgument, notFound, unimplemented } from './rpc-error.ts';
import { type DurationMessage, durationToMs, paginate } from './wire.ts';

/** A `google.longrunning.Operation` as served: `response` or `error` once done, `metadata` while running too. */
export interface OperationMessage {
  name: string;
  done: boolean;
  metadata?: PackedAny;
  response?: PackedAny;
  error?: { code: number; message: string };
}

/** How an operation ended: with the resource it produced, or with a gRPC status. */
export type OperationOutcome = { response: PackedAny } | { error: { code: number; message: string } };

/** An operation as the admin endpoint shows it: the `Any` payloads by type only. */
export interface OperationSnapshot {
  name: string;
  done: boolean;
  responseType: string | null;
  error: { code: number; message: string } | null;
}

/** WaitOperation without a timeout still returns, so a client cannot hang on an emulator that is stopping. */
const MAX_WAIT_MS = 30_000;

/**
 * The long-running operations of every emulated API. One `google.longrunning.Operations` service answers for all of
 * them, as on Google's side each API's endpoint serves its own operations and names never collide.
 */
export class OperationStore {
  readonly #operations = new Map<string, OperationMessage>();
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Starts an operation under `parent` (`projects/P/locations/L`) and returns it, not done. */
  start(parent: string, metadata: PackedAny): OperationMessage {
    const operation: OperationMessage = {
      name: `${parent}/operations/${randomUUID()}`,
      done: false,
      metadata,
    };
    this.#operations.set(operation.name, operation);
    return { ...operation };
  }

  /** Starts an operation that is already done, as a `validate_only` request answers. */
  completed(parent: string, metadata: PackedAny, outcome: OperationOutcome): OperationMessage {
    const { name } = this.start(parent, metadata);
    this.finish(name, outcome, metadata);
    return this.get(name);
  }

  finish(name: string, outcome: OperationOutcome, metadata: PackedAny): void {
    const operation = this.#operations.get(name);
    if (!operation) return;
    this.#operations.set(name, { name, done: true, metadata, ...outcome });
    this.#release(name);
  }

  get(name: string): OperationMessage {
    const operation = this.#operations.get(name);
    if (!operation) throw notFound(`Operation ${name}`);
    return { ...operation };
  }

  /** Resolves when the operation is done or the timeout passes, whichever comes first, with its latest state. */
  async wait(name: string, timeoutMs: number): Promise<OperationMessage> {
    if (this.get(name).done) return this.get(name);
    await new Promise<void>((resolve) => {
      const waiters = this.#waiters.get(name) ?? new Set<() => void>();
      this.#waiters.set(name, waiters);
      const release = () => {
        clearTimeout(timer);
        waiters.delete(release);
        resolve();
      };
      const timer = setTimeout(release, Math.min(timeoutMs, MAX_WAIT_MS));
      waiters.add(release);
    });
    return this.get(name);
  }

  list(parent: string): OperationMessage[] {
    const prefix = parent === '' ? '' : `${parent}/operations/`;
    return [...this.#operations.values()].filter((op) => op.name.startsWith(prefix)).map((op) => ({ ...op }));
  }

  delete(name: string): void {
    if (!this.#operations.delete(name)) throw notFound(`Operation ${name}`);
    this.#release(name);
  }

  /** Forgets every operation and wakes all waiters, for reset and stop. */
  clear(): void {
    const names = [...this.#waiters.keys()];
    this.#operations.clear();
    for (const name of names) this.#release(name);
  }

  snapshot(): OperationSnapshot[] {
    return [...this.#operations.values()].map((op) => ({
      name: op.name,
      done: op.done,
      responseType: op.response ? op.response.type_url.replace('type.googleapis.com/', '') : null,
      error: op.error ?? null,
    }));
  }

  #release(name: string): void {
    for (const release of [...(this.#waiters.get(name) ?? [])]) release();
    this.#waiters.delete(name);
  }
}

interface OperationNameRequest {
  name?: string;
}
interface WaitOperationRequest extends OperationNameRequest {
  timeout?: DurationMessage;
}
interface ListOperationsRequest extends OperationNameRequest {
  filter?: string;
  pageSize?: number;
  pageToken?: string;
}

function requireName(request: OperationNameRequest): string {
  if (!request.name) throw invalidArgument('name is required.');
  return request.name;
}

/** Handlers of `google.longrunning.Operations`; gax polls GetOperation until an operation is done. */
export function operationsHandlers(store: OperationStore) {
  return {
    GetOperation: (request: OperationNameRequest) => store.get(requireName(request)),
    WaitOperation: (request: WaitOperationRequest) =>
      store.wait(requireName(request), request.timeout ? durationToMs(request.timeout) : MAX_WAIT_MS),
    ListOperations: (request: ListOperationsRequest) => {
      if (request.filter) throw unimplemented('The emulator does not support filters on ListOperations.');
      const { page, nextPageToken } = paginate(
        store.list(request.name ?? ''),
        request.pageSize,
        request.pageToken,
      );
      return { operations: page, nextPageToken };
    },
    DeleteOperation: (request: OperationNameRequest) => {
      store.delete(requireName(request));
      return {};
    },
  };
}
