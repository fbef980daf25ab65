import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
/**
 * The random part is two 40-bit halves in plain numbers: with BigInt arithmetic, making ids was a tenth of the
 * store's time per alert.
 */
const HALF = 2 ** 40;

/** `value` (an integer below 2^53) as `length` base-32 digits, most significant first. */
function encode(value: number, length: number): string {
  let out = '';
  for (let shift = length - 1; shift >= 0; shift--) out += CROCKFORD[Math.floor(value / 32 ** shift) % 32];
  return out;
}

/** Random bytes drawn 4 KiB at a time: a call to the CSPRNG per id cost more than the rest of the id. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** The next `bytes` (at most 6) random bytes as a number. */
function randomNumber(bytes: number): number {
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const value = pool.readUIntBE(poolOffset, bytes);
  poolOffset += bytes;
  return value;
}

/**
 * The random part last used for each recent millisecond, so ids made for one millisecond count up even when ids
 * for another are made between them: a rollback's steps written together carry the time of the read they follow
 * and the time they were decided, interleaved. Old milliseconds are forgotten first.
 */
const recent = new Map<number, { high: number; low: number }>();
const RECENT_MILLISECONDS = 256;

/**
 * A prefixed, time-ordered id like `dec_01jd5x...` (ULID layout: 48-bit milliseconds then 80 random bits), so ids
 * sort by creation time and say what they name. Within one millisecond the random part counts up, so ids made
 * in order (a decision's timeline steps) also sort in order.
 */
export function newId(
  prefix: 'alt' | 'dec' | 'evt' | 'job' | 'obs' | 'obx' | 'aud',
  nowMs: number = Date.now(),
): string {
  let random = recent.get(nowMs);
  if (random === undefined) {
    // The top bit clear, leaving room to count up within the millisecond.
    random = { high: randomNumber(5) % (HALF / 2), low: randomNumber(5) };
    recent.set(nowMs, random);
    if (recent.size > RECENT_MILLISECONDS) recent.delete(recent.keys().next().value as number);
  } else {
    random.low += 1;
    if (random.low === HALF) {
      random.low = 0;
      random.high = (random.high + 1) % HALF;
    }
  }
  return `${prefix}_${encode(nowMs, 10)}${encode(random.high, 8)}${encode(random.low, 8)}`;
}
