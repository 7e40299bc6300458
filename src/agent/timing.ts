/**
 * When the agent acts: renewal at half of a certificate's life with ±10 %
 * jitter (so a fleet started together does not renew together), and capped
 * exponential backoff with full jitter after failures.
 */
import type { RandomSource } from '../x509/serial.js';

/** A uniformly random number in [0, 1). */
export function unitRandom(random: RandomSource): number {
  return random.bytes(4).readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * The moment to renew a certificate valid from notBefore to notAfter (ms):
 * the half-life point moved by up to ±10 % of the half-life, i.e. between 45 %
 * and 55 % of the lifetime.
 */
export function renewalTime(notBeforeMs: number, notAfterMs: number, random: RandomSource): number {
  const half = (notAfterMs - notBeforeMs) / 2;
  const jitter = (unitRandom(random) * 2 - 1) * 0.1 * half;
  return Math.round(notBeforeMs + half + jitter);
}

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000 };

/** Delay before retry number `attempt` (1 for the first retry): random in [d/2, d] with d = min(max, initial·2^(attempt-1)). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: RandomSource): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (unitRandom(random) * ceiling) / 2);
}
