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

let lastMs = -1;
let randomHigh = 0;
let randomLow = 0;

/**
 * A prefixed, time-ordered id like `dec_01jd5x...` (ULID layout: 48-bit milliseconds then 80 random bits), so ids
 * sort by creation time and say what they name. Within one millisecond the random part counts up, so ids made
 * in order (a decision's timeline steps) also sort in order.
 */
export function newId(
  prefix: 'alt' | 'dec' | 'evt' | 'job' | 'obs' | 'obx' | 'aud',
  nowMs: number = Date.now(),
): string {
  if (nowMs === lastMs) {
    randomLow += 1;
    if (randomLow === HALF) {
      randomLow = 0;
      randomHigh = (randomHigh + 1) % HALF;
    }
  } else {
    lastMs = nowMs;
    // The top bit clear, leaving room to count up within the millisecond.
    randomHigh = randomNumber(5) % (HALF / 2);
    randomLow = randomNumber(5);
  }
  return `${prefix}_${encode(nowMs, 10)}${encode(randomHigh, 8)}${encode(randomLow, 8)}`;
}
