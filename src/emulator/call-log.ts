import { performance } from 'node:perf_hooks';

/** A JSON value, the shape request summaries take so they can be served by the admin endpoint as they are. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One RPC the emulator received. */
export interface CallRecord {
  /** Full gRPC service name, e.g. `google.cloud.run.v2.Services`. */
  service: string;
  /** Method name, e.g. `UpdateService`; unique across the emulated services. */
  method: string;
  /** Arrival time in epoch milliseconds with sub-millisecond precision, for latency measurements. */
  at: number;
  /** The request without empty fields; bytes are replaced by their length so secrets stay out of the log. */
  request: JsonValue;
  /** The gRPC status code answered (0 = OK), or null while the call is still being handled. */
  code: number | null;
}

/** Now, as `CallRecord.at` counts time. */
export function arrivalTime(): number {
  return performance.timeOrigin + performance.now();
}

/** The record of every RPC, in arrival order, so tests can assert "exactly one UpdateService call". */
export class CallLog {
  readonly #records: CallRecord[] = [];

  /**
   * Records a call that arrived at `at` (by default now); the returned record's `code` is filled in when it is
   * answered.
   */
  record(service: string, method: string, request: unknown, at = arrivalTime()): CallRecord {
    const record: CallRecord = {
      service,
      method,
      at,
      request: summarize(request) ?? {},
      code: null,
    };
    this.#records.push(record);
    return record;
  }

  /** Copies of the recorded calls, optionally only those of one method. */
  list(filter: { method?: string } = {}): CallRecord[] {
    return this.#records
      .filter((record) => filter.method === undefined || record.method === filter.method)
      .map((record) => ({ ...record }));
  }

  /** How many calls of a method arrived. */
  count(method: string): number {
    return this.#records.filter((record) => record.method === method).length;
  }

  clear(): void {
    this.#records.length = 0;
  }
}

function summarize(value: unknown): JsonValue | undefined {
  if (value === undefined || value === null || value === '' || value === false) return undefined;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => summarize(item) ?? null);
    return items.length > 0 ? items : undefined;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, summarize(item)] as const)
      .filter((entry): entry is readonly [string, JsonValue] => entry[1] !== undefined);
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
  }
  return String(value);
}
