import type { RecordedEvent } from '../events/event.ts';

export type ChannelName = 'slack' | 'pagerduty' | 'webhook';

/** What a channel is asked to send: the audited event, and what only the process knows about it. */
export interface Notification {
  /** The outbox row's id: the same on every retry, so a receiver can drop duplicates. */
  id: string;
  event: RecordedEvent;
  /** What the target protects, as people name it: the Cloud Run service, or the Cloud Deploy pipeline/target. */
  service: string | null;
  /** The decision's page for people (`LASTGOOD_PUBLIC_URL` + `/ui/decisions/:id`), when both are known. */
  statusUrl: string | null;
}

/** One place notifications go. One implementation per channel, in this folder. */
export interface NotificationChannel {
  readonly name: ChannelName;
  /** Whether this channel has anything to send for the event (PagerDuty only pages and resolves). */
  wants(event: RecordedEvent): boolean;
  /** Sends, or throws a `DeliveryError`; gives up when `signal` aborts. */
  send(notification: Notification, signal: AbortSignal): Promise<void>;
}

/**
 * A delivery that did not happen. The message is safe to store and show: it never holds the channel's URL, which
 * for Slack is itself the credential. `permanent` means trying again cannot help (the receiver refused the
 * request itself), so the notification is dead-lettered at once.
 */
export class DeliveryError extends Error {
  readonly code = 'DELIVERY_FAILED';
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.name = 'DeliveryError';
    this.permanent = permanent;
  }
}

/** 408 and 429 ask to be tried later; any other 4xx is a request the receiver will never take. */
function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** POSTs a JSON body, turning every failure into a `DeliveryError` that does not name the URL. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal,
      redirect: 'error',
    });
  } catch (error) {
    if (signal.aborted) throw new DeliveryError('no answer before the timeout', false);
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    throw new DeliveryError(`network error${typeof cause === 'string' ? ` (${cause})` : ''}`, false);
  }
  // The body is read (and dropped) so the connection can be reused; a receiver's text is not trusted into logs.
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new DeliveryError(`HTTP ${response.status}`, isPermanent(response.status));
}
