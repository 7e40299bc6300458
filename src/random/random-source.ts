/**
 * Randomness, injected wherever behaviour depends on it (serials, jitter,
 * renewal booking, tokens), so that tests can make it predictable.
 */
import { randomBytes } from 'node:crypto';

export interface RandomSource {
  bytes(n: number): Buffer;
}

/** A uniformly random number in [0, 1). */
export function unitRandom(random: RandomSource): number {
  return random.bytes(4).readUInt32BE(0) / 0x1_0000_0000;
}

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let taken = 0;

/**
 * OpenSSL's CSPRNG, drawn 4 KiB at a time: one call into it per 256 serials
 * rather than one per serial, on the issuance hot path. Each caller gets its
 * own copy of bytes nobody else was given.
 */
export const cryptoRandom: RandomSource = Object.freeze({
  bytes: (n: number) => {
    if (n > POOL_BYTES / 4) return randomBytes(n);
    if (taken + n > pool.length) {
      pool = randomBytes(POOL_BYTES);
      taken = 0;
    }
    const out = Buffer.from(pool.subarray(taken, taken + n));
    taken += n;
    return out;
  },
});
