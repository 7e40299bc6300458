import type { RandomSource } from '../random/random-source.js';

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
