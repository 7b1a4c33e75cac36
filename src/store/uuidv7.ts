import { randomFillSync } from 'node:crypto';

/*
 * UUIDv7 per RFC 9562 §5.7: 48-bit Unix milliseconds, version 7, then 74 bits that are random in the
 * RFC's base layout. Here the first 42 of them are a counter (RFC 9562 §6.2 method 1, "fixed-length
 * dedicated counter") so ids made in one process sort in creation order even within one millisecond:
 *
 *   unix_ts_ms (48) | ver=7 (4) | counter[41..30] (12) | var=10 (2) | counter[29..0] (30) | random (32)
 *
 * Each new millisecond reseeds the counter with a random 41-bit value (top bit clear leaves room for at
 * least 2^41 increments). If the counter still overflows, or the clock goes backwards, the timestamp
 * moves on from the last one used, as §6.2 allows, so ids never go backwards.
 */

const COUNTER_BITS = 42;
const COUNTER_MAX = 2 ** COUNTER_BITS - 1;
const SEED_RANGE = 2 ** (COUNTER_BITS - 1);

const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomBytes(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

function randomSeed(): number {
  const b = randomBytes(6);
  // 48 random bits reduced to 41: top bit of the counter stays clear.
  return b.readUIntBE(0, 6) % SEED_RANGE;
}

let lastMs = -1;
let counter = 0;

/**
 * A new UUIDv7 string. Ids from one process are strictly increasing (as strings and as bytes).
 *
 * @param now Unix milliseconds to stamp; defaults to `Date.now()` (injectable for tests).
 * @example
 * const runId = uuidv7(); // '0190f5e2-7c1a-7d3e-9a41-3b0c5f6e8d21'
 */
export function uuidv7(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = randomSeed();
  } else if (counter < COUNTER_MAX) {
    counter += 1;
  } else {
    lastMs += 1;
    counter = randomSeed();
  }

  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(lastMs, 0, 6);
  const high = Math.floor(counter / 2 ** 30); // counter bits 41..30 (12 bits)
  const low = counter % 2 ** 30; // counter bits 29..0
  bytes[6] = 0x70 | (high >>> 8);
  bytes[7] = high & 0xff;
  bytes[8] = 0x80 | (low >>> 24);
  bytes.writeUIntBE(low & 0xffffff, 9, 3);
  randomBytes(4).copy(bytes, 12);

  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The Unix milliseconds stamped in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  return Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}
