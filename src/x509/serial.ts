import { randomBytes } from 'node:crypto';

/** Randomness, injectable so that tests can make serials and jitter predictable. */
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

/**
 * A certificate serial number: 126 random bits in exactly 16 octets, always
 * positive (top bit clear) and never shortened by DER (second bit set), so
 * serials sort and compare as fixed-width hex.
 */
export function randomSerial(random: RandomSource): Buffer {
  const serial = random.bytes(16);
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  return serial;
}
