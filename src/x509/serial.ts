import { randomBytes } from 'node:crypto';

/** Randomness, injectable so that tests can make serials and jitter predictable. */
export interface RandomSource {
  bytes(n: number): Buffer;
}

export const cryptoRandom: RandomSource = Object.freeze({ bytes: (n: number) => randomBytes(n) });

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
