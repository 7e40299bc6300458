import { createHash } from 'node:crypto';
import type { RandomSource } from '../../src/random/random-source.js';

/** Deterministic bytes (SHA-256 in counter mode over a seed), so jitter and backoff are repeatable. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  return {
    bytes(n: number): Buffer {
      const out = Buffer.alloc(n);
      for (let filled = 0; filled < n; filled += 32) {
        createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, filled);
      }
      return out;
    },
  };
}

/** A source whose every draw is the same fraction of the range, e.g. 0 or 0.999 to hit the ends of a jitter window. */
export function fixedRandom(fraction: number): RandomSource {
  const value = Math.min(0xffffffff, Math.floor(fraction * 0x1_0000_0000));
  return {
    bytes(n: number): Buffer {
      const out = Buffer.alloc(Math.max(n, 4));
      for (let i = 0; i + 4 <= out.length; i += 4) out.writeUInt32BE(value, i);
      return out.subarray(0, n);
    },
  };
}
