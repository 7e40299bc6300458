/**
 * The one source of "now" for everything whose behaviour depends on time
 * (issuance validity, rotation, expiry, renewal). Production code takes a
 * Clock; tests pass a FakeClock and move it instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

export const systemClock: Clock = Object.freeze({ nowMs: () => Date.now() });

/** Whole seconds since the epoch: X.509 times have one-second granularity. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}

export function nowDate(clock: Clock): Date {
  return new Date(clock.nowMs());
}
