import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
const RANDOM_BITS = 80n;

function encode(value: bigint, length: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[Number(rest & 31n)] + out;
    rest >>= 5n;
  }
  return out;
}

let lastMs = -1;
let lastRandom = 0n;

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
    lastRandom = (lastRandom + 1n) & ((1n << RANDOM_BITS) - 1n);
  } else {
    lastMs = nowMs;
    lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`) >> 1n;
  }
  return `${prefix}_${encode(BigInt(nowMs), 10)}${encode(lastRandom, 16)}`;
}
