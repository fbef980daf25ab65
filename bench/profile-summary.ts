/**
 * Sums a `--cpu-prof` profile's samples by what they were doing: self time by function, by module (a package, a
 * file of src/, a node: builtin) and by part of the intake path, each also per alert when told how many.
 *
 *   node bench/profile-summary.ts bench/results/CPU....cpuprofile [alerts] [fromUs toUs]
 *
 * `fromUs toUs` keep the samples between two monotonic timestamps (`process.hrtime.bigint() / 1000n` in any process
 * on the machine: V8 stamps samples with the same clock), e.g. one load run, leaving out start-up. V8 samples by
 * wall clock: a thread waiting in a syscall (an fsync) or for a core counts as the code it waits in.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface Profile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The parts of the intake path, tried in order against a sample's stack (leaf first); the first that matches wins. */
const PARTS: [string, (stack: CallFrame[]) => boolean][] = [
  ['idle', ([leaf]) => leaf!.functionName === '(idle)'],
  ['GC', ([leaf]) => leaf!.functionName === '(garbage collector)'],
  ['V8 and native, unattributed', ([leaf]) => leaf!.functionName === '(program)'],
  // node:sqlite's calls run inside the frame that makes them: exec of BEGIN, SAVEPOINT, RELEASE and COMMIT.
  ['SQLite BEGIN/SAVEPOINT/RELEASE/COMMIT', ([leaf]) => leaf!.functionName === '#commitPending'],
  ['WAL sync handed to the thread pool', ([leaf]) => leaf!.functionName === 'fdatasync'],
  [
    'SQLite statements',
    (stack) =>
      stack.some(
        (f) => f.url.endsWith('src/store/sqlite.ts') && /^#(run|all|statement)$/.test(f.functionName),
      ),
  ],
  ['logging', (stack) => stack.some((f) => /pino|sonic-boom|src\/logger\.ts/.test(f.url))],
  ['audit chain hashing', (stack) => stack.some((f) => f.url.endsWith('src/audit/chain.ts'))],
  ['zod', (stack) => stack.some((f) => f.url.includes('node_modules/zod/'))],
  ['webhook token check', (stack) => stack.some((f) => f.url.endsWith('src/http/auth.ts'))],
  ['rate limit', (stack) => stack.some((f) => f.url.includes('rate-limit'))],
  ['decide() and domain', (stack) => stack.some((f) => f.url.includes('/src/domain/'))],
  ['store JavaScript', (stack) => stack.some((f) => f.url.includes('/src/store/'))],
  [
    'Fastify, HTTP and sockets',
    (stack) =>
      stack.some((f) =>
        /fastify|find-my-way|secure-json-parse|node:_http|node:net|node:internal\/(http|stream|net)|node:stream/.test(
          f.url,
        ),
      ),
  ],
  ['other', () => true],
];

function moduleOf(url: string): string {
  if (url === '') return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  return /\/((?:src|bench)\/.*)$/.exec(url)?.[1] ?? url;
}

function add(totals: Map<string, number>, key: string, us: number): void {
  totals.set(key, (totals.get(key) ?? 0) + us);
}

const [file, alertsArg, fromArg, toArg] = process.argv.slice(2);
if (file === undefined)
  throw new Error('usage: node bench/profile-summary.ts PROFILE [alerts] [fromUs toUs]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const alerts = Number(alertsArg ?? 0);
const from = Number(fromArg ?? Number.NEGATIVE_INFINITY);
const to = Number(toArg ?? Number.POSITIVE_INFINITY);

const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
const selfUs = new Map<number, number>();
let at = profile.startTime;
for (const [i, sample] of profile.samples.entries()) {
  at += profile.timeDeltas[i]!;
  // A sample stands for the time until the next one.
  if (at >= from && at <= to)
    selfUs.set(sample, (selfUs.get(sample) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
}

const byPart = new Map<string, number>();
const byModule = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const [id, us] of selfUs) {
  const stack: CallFrame[] = [];
  for (let node: number | undefined = id; node !== undefined; node = parents.get(node)) {
    stack.push(nodes.get(node)!.callFrame);
  }
  const leaf = stack[0]!;
  add(byPart, PARTS.find(([, matches]) => matches(stack))![0], us);
  add(byModule, moduleOf(leaf.url), us);
  add(byFunction, `${leaf.functionName || '(anonymous)'} ${moduleOf(leaf.url)}:${leaf.lineNumber + 1}`, us);
}

const busy = [...byPart].reduce((sum, [part, us]) => (part === 'idle' ? sum : sum + us), 0);
const line = (key: string, us: number) =>
  `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%` +
  `${alerts > 0 ? ` ${(us / alerts).toFixed(1).padStart(7)} µs/alert` : ''}  ${key}`;
console.log(
  `busy ${(busy / 1000).toFixed(0)} ms${alerts > 0 ? `, ${alerts} alerts, ${(busy / alerts).toFixed(0)} µs/alert` : ''} (shares are of busy time)`,
);
for (const [title, totals, rows] of [
  ['part of the intake path', byPart, 20],
  ['module (self time)', byModule, 25],
  ['function (self time)', byFunction, 40],
] as const) {
  console.log(`\n## ${title}`);
  for (const [key, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(line(key, us));
}
