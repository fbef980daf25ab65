import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.ts';
import { burnRateAlert } from '../fixtures/alerts.ts';
import { countDecisions, startTestApp, type TestApp, webhookUrl } from '../helpers/app.ts';

/** One generated request body, and whether it can possibly be a valid alert. */
export interface HostileBody {
  kind: string;
  contentType: string | null;
  text: string;
  /** False when no server may accept it (not JSON, not an object, poisoning keys, over the limit...). */
  mayBeValid: boolean;
}

/** A body sent as `application/json`. */
function jsonBody(kind: string, text: string, mayBeValid: boolean): HostileBody {
  return { kind, contentType: 'application/json', text, mayBeValid };
}

const LONE_SURROGATES = ['\ud800', '\udfff', 'a\ud83dz'];
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Strings a careless parser or store trips on. */
const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 32 }),
  fc.string({ unit: 'binary-ascii', maxLength: 16 }),
  fc.constantFrom(
    ...LONE_SURROGATES,
    ...PROTOTYPE_KEYS,
    '\u0000',
    '\u202e',
    "'; DROP TABLE alerts; --",
    '../../etc/passwd',
    '%00',
    '$' + '{jndi:ldap://x}', // log4shell's probe, spelled so it is not a template
    'NaN',
    '1e999',
  ),
  fc.integer({ min: 1_000, max: 70_000 }).map((n) => '\u00e9'.repeat(n)),
);

/** Values of every JSON type, including the ones an alert field never has. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, -1, 0, 1e308, -0, 2 ** 53 + 1, [], {}) },
);

/** Where a mutation lands in a valid alert: every field lastgood reads, and some containers it passes through. */
const ALERT_PATHS: readonly (readonly string[])[] = [
  ['version'],
  ['incident'],
  ['incident', 'incident_id'],
  ['incident', 'state'],
  ['incident', 'started_at'],
  ['incident', 'ended_at'],
  ['incident', 'observed_value'],
  ['incident', 'threshold_value'],
  ['incident', 'summary'],
  ['incident', 'url'],
  ['incident', 'policy_name'],
  ['incident', 'policy_user_labels'],
  ['incident', 'policy_user_labels', 'lastgood_target'],
  ['incident', 'resource'],
  ['incident', 'resource', 'labels'],
  ['incident', 'resource', 'labels', 'service_name'],
  ['incident', 'condition'],
  ['incident', 'condition', 'conditionThreshold'],
  ['incident', 'condition', 'conditionThreshold', 'duration'],
  ['incident', 'condition', 'conditionThreshold', 'thresholdValue'],
  ['incident', 'metadata'],
  ['incident', 'metadata', 'user_labels'],
  ['incident', 'documentation'],
  ['incident', 'unknown_new_google_field'],
];

function setPath(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

const incidentId = fc.stringMatching(/^0\.[a-z0-9]{6,14}$/);

/** A valid alert with one field replaced by anything: sometimes still valid, usually a type error. */
const mutatedAlert = fc
  .record({ id: incidentId, path: fc.constantFrom(...ALERT_PATHS), value: anyValue })
  .map(({ id, path, value }): HostileBody => {
    const alert = burnRateAlert({ incidentId: id }) as unknown as Record<string, unknown>;
    setPath(alert, path, value);
    return jsonBody('mutated alert', JSON.stringify(alert), true);
  });

/** Text fields of a valid alert with a control character spliced in: PostgreSQL refuses a NUL that SQLite keeps. */
const controlCharacters = fc
  .record({
    id: incidentId,
    path: fc.constantFrom(
      ['incident', 'incident_id'],
      ['incident', 'summary'],
      ['incident', 'policy_name'],
      ['incident', 'condition_name'],
      ['incident', 'url'],
      ['incident', 'policy_user_labels', 'lastgood_target'],
      ['incident', 'resource', 'labels', 'service_name'],
    ),
    at: fc.nat({ max: 40 }),
    char: fc
      .oneof(fc.integer({ min: 0, max: 31 }), fc.constant(127))
      .map((code) => String.fromCharCode(code)),
  })
  .map(({ id, path, at, char }): HostileBody => {
    const alert = burnRateAlert({ incidentId: id }) as unknown as Record<string, unknown>;
    let node: unknown = alert;
    for (const key of path) node = (node as Record<string, unknown>)[key];
    const text = String(node);
    setPath(alert, path, `${text.slice(0, at)}${char}${text.slice(at)}`);
    return jsonBody('control character', JSON.stringify(alert), true);
  });

/** A valid alert with `__proto__` or `constructor.prototype` spliced into one of its objects. */
const poisonedAlert = fc
  .record({
    id: incidentId,
    at: fc.constantFrom(
      '{',
      '"incident":{',
      '"policy_user_labels":{',
      '"labels":{',
      '"conditionThreshold":{',
    ),
    poison: fc.constantFrom(
      '"__proto__":{"polluted":"yes"},',
      '"constructor":{"prototype":{"polluted":"yes"}},',
      '"__proto__":{"isAdmin":true,"toString":"x"},',
    ),
  })
  .map(({ id, at, poison }): HostileBody => {
    const text = JSON.stringify(burnRateAlert({ incidentId: id })).replace(at, `${at}${poison}`);
    return jsonBody('poisoned alert', text, false);
  });

/** Text that is not JSON at all, or JSON cut short. */
const malformedJson = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 200 }).filter((text) => {
      try {
        JSON.parse(text);
        return false;
      } catch {
        return true;
      }
    }),
    fc
      .record({ id: incidentId, cut: fc.integer({ min: 1, max: 400 }) })
      .map(({ id, cut }) => JSON.stringify(burnRateAlert({ incidentId: id })).slice(0, cut)),
    fc.constantFrom(
      '',
      ' ',
      'null',
      '{"a":1,}',
      "{'version':'1.2'}",
      '{"version":"1.2"}{}',
      '\ufeff{}',
      'NaN',
    ),
  )
  .map((text) => jsonBody('malformed JSON', text, false));

/** Any JSON document: arrays, scalars, objects of the wrong shape. */
const wrongShape = fc
  .jsonValue({ maxDepth: 4 })
  .map((value) => jsonBody('arbitrary JSON', JSON.stringify(value) ?? 'null', false));

/** Deep nesting, at the top or inside a valid alert, up to the size the body limit allows. */
const deepNesting = fc
  .record({
    depth: fc.integer({ min: 50, max: 60_000 }),
    id: incidentId,
    inside: fc.boolean(),
    arrays: fc.boolean(),
  })
  .map(({ depth, id, inside, arrays }): HostileBody => {
    const nested = arrays
      ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const text = inside
      ? JSON.stringify(burnRateAlert({ incidentId: id })).replace(
          '"incident":{',
          `"incident":{"deep":${nested},`,
        )
      : nested;
    return jsonBody('deep nesting', text, inside);
  });

/** Huge strings in a field, some past the 256 KiB body limit. */
const hugeString = fc
  .record({
    id: incidentId,
    size: fc.integer({ min: 10_000, max: 300_000 }),
    char: fc.constantFrom('x', '\u00e9', '\ud83d\ude00', '\\', '"'),
    field: fc.constantFrom('summary', 'incident_id', 'policy_name', 'unknown_field'),
  })
  .map(({ id, size, char, field }): HostileBody => {
    const alert = burnRateAlert({ incidentId: id }) as { incident: Record<string, unknown> };
    alert.incident[field] = char.repeat(Math.ceil(size / char.length));
    const text = JSON.stringify(alert);
    return jsonBody('huge string', text, true);
  });

/** Valid-looking JSON sent as something else: must be a 415, never parsed. */
const wrongContentType = fc
  .record({
    id: incidentId,
    type: fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
    ),
  })
  .map(
    ({ id, type }): HostileBody => ({
      kind: 'wrong content type',
      contentType: type,
      text: JSON.stringify(burnRateAlert({ incidentId: id })),
      mayBeValid: false,
    }),
  );

/** Every kind of hostile body, weighted toward the ones that get furthest into the server. */
export const hostileBody: fc.Arbitrary<HostileBody> = fc.oneof(
  { weight: 6, arbitrary: mutatedAlert },
  { weight: 1, arbitrary: controlCharacters },
  { weight: 2, arbitrary: poisonedAlert },
  { weight: 2, arbitrary: malformedJson },
  { weight: 2, arbitrary: wrongShape },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: hugeString },
  { weight: 1, arbitrary: wrongContentType },
);

/** Bodies per route (fuzz-webhook and fuzz-pubsub run in parallel, 10,000 each by default). */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

/** Budgets no fuzz run reaches: this test is about bodies, rate limits have their own. */
export const UNLIMITED = {
  LASTGOOD_RATE_LIMIT_INTAKE: '1000000/1m',
  LASTGOOD_RATE_LIMIT_ANONYMOUS: '1000000/1m',
};

interface Tally {
  byStatus: Map<number, number>;
  accepted: number;
}

/**
 * Sends every generated body and checks each answer: never a 5xx, never a 2xx for a body that cannot be valid.
 * Returns the tally so the caller can check the store holds exactly the accepted alerts.
 */
async function fuzz(
  arbitrary: fc.Arbitrary<HostileBody>,
  runs: number,
  send: (body: HostileBody) => Promise<LightMyRequestResponse>,
): Promise<Tally> {
  const tally: Tally = { byStatus: new Map(), accepted: 0 };
  await fc.assert(
    fc.asyncProperty(arbitrary, async (body) => {
      const response = await send(body);
      tally.byStatus.set(response.statusCode, (tally.byStatus.get(response.statusCode) ?? 0) + 1);
      expect(response.statusCode, `${body.kind}: ${response.body.slice(0, 300)}`).toBeLessThan(500);
      if (response.statusCode === 202) tally.accepted++;
      if (!body.mayBeValid) expect(response.statusCode, body.kind).toBeGreaterThanOrEqual(400);
      if (response.statusCode >= 400) {
        const error = response.json() as { code: string; message: string };
        expect(error.code).toMatch(/^LASTGOOD_ERR_/);
        expect(response.body).not.toMatch(/\n\s+at /);
      }
    }),
    { numRuns: runs, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
  );
  return tally;
}

function expectUnpolluted(): void {
  const probe: Record<string, unknown> = {};
  expect(probe.polluted).toBeUndefined();
  expect(probe.isAdmin).toBeUndefined();
}

/**
 * One property-based fuzz suite for an intake route: `runs` generated bodies through `send`, then the store must
 * hold exactly the alerts that were answered 202, nothing may be polluted, and a valid alert must still go in.
 */
export function describeFuzz(options: {
  route: string;
  /** Default `RUNS`. */
  runs?: number;
  arbitrary: fc.Arbitrary<HostileBody>;
  app: () => Promise<TestApp>;
  send: (t: TestApp, body: HostileBody) => Promise<LightMyRequestResponse>;
  valid: (t: TestApp) => Promise<LightMyRequestResponse>;
}): void {
  const runs = options.runs ?? RUNS;
  describe(`${options.route} under property-based fuzzing`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await options.app();
    });
    afterAll(async () => {
      await t.close();
    });

    it(`never answers 5xx, never stores an invalid body, and still takes a valid alert after ${runs} bodies`, async () => {
      const started = performance.now();
      const tally = await fuzz(options.arbitrary, runs, (body) => options.send(t, body));
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `${options.route}: ${runs} bodies in ${seconds}s; statuses ${JSON.stringify(Object.fromEntries(tally.byStatus))}\n`,
      );
      expect(await countDecisions(t)).toBe(tally.accepted);
      expectUnpolluted();
      const after = await options.valid(t);
      expect(after.statusCode).toBe(202);
      expect(await countDecisions(t)).toBe(tally.accepted + 1);
    }, 180_000);
  });
}

/** The webhook's fuzz suite, on SQLite in a temp dir or on the store `openStore` opens. */
export function describeWebhookFuzz(options: {
  route: string;
  runs?: number;
  openStore?: () => Promise<Store>;
}): void {
  const { openStore } = options;
  describeFuzz({
    route: options.route,
    ...(options.runs === undefined ? {} : { runs: options.runs }),
    arbitrary: hostileBody,
    app: () =>
      startTestApp({ env: { ...UNLIMITED, LOG_LEVEL: 'warn' }, ...(openStore ? { openStore } : {}) }),
    send: (t, body) =>
      t.app.server.inject({
        method: 'POST',
        url: webhookUrl(),
        headers: body.contentType === null ? {} : { 'content-type': body.contentType },
        payload: body.text,
      }),
    valid: (t) =>
      t.app.server.inject({
        method: 'POST',
        url: webhookUrl(),
        payload: burnRateAlert({ incidentId: '0.after' }),
      }),
  });
}
