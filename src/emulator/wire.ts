import { randomBytes } from 'node:crypto';
import { invalidArgument } from './rpc-error.ts';

/** A `google.protobuf.Timestamp` as the proto loader writes it. */
export interface TimestampMessage {
  seconds: string;
  nanos: number;
}

/** A `google.protobuf.Duration` as the proto loader reads it (int64 seconds arrive as strings). */
export interface DurationMessage {
  seconds?: string | number;
  nanos?: number;
}

export function toTimestamp(epochMs: number): TimestampMessage {
  const seconds = Math.floor(epochMs / 1000);
  return { seconds: String(seconds), nanos: Math.round((epochMs - seconds * 1000) * 1e6) };
}

/** A Duration in milliseconds; a request's Timestamp reads the same way, as a duration since the epoch. */
export function durationToMs(duration: DurationMessage): number {
  return Number(duration.seconds ?? 0) * 1000 + (duration.nanos ?? 0) / 1e6;
}

/** One page of a list, with the token of the next page ('' on the last one), as Google's list methods answer. */
export function paginate<T>(
  items: readonly T[],
  pageSize: number | undefined,
  pageToken: string | undefined,
): { page: T[]; nextPageToken: string } {
  const start = pageToken ? Number.parseInt(Buffer.from(pageToken, 'base64url').toString('utf8'), 10) : 0;
  if (!Number.isSafeInteger(start) || start < 0 || start > items.length) {
    throw invalidArgument(`page_token "${pageToken}" was not returned by a previous list call.`);
  }
  const end = pageSize && pageSize > 0 ? Math.min(start + pageSize, items.length) : items.length;
  const nextPageToken = end < items.length ? Buffer.from(String(end), 'utf8').toString('base64url') : '';
  return { page: items.slice(start, end), nextPageToken };
}

/** A fresh opaque etag, as Cloud Run and Cloud Deploy hand out on every change. */
export function newEtag(): string {
  return randomBytes(9).toString('base64url');
}
