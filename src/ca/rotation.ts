/**
 * When to rotate the signing intermediate, as pure predicates of time. The
 * next intermediate is prepared at half of the active one's life and takes over
 * when a sixth of its life remains, so an SVID whose lifetime is at most a
 * sixth of the intermediate's is never cut short by its issuer's expiry.
 */

export interface Lifetime {
  readonly notBefore: number;
  readonly notAfter: number;
}

function lifetime(a: Lifetime): number {
  return a.notAfter - a.notBefore;
}

export function prepareAt(active: Lifetime): number {
  return active.notBefore + Math.floor(lifetime(active) / 2);
}

export function activateAt(active: Lifetime): number {
  return active.notAfter - Math.floor(lifetime(active) / 6);
}

export function shouldPrepareNext(active: Lifetime, now: number): boolean {
  return now >= prepareAt(active);
}

export function shouldActivateNext(active: Lifetime, now: number): boolean {
  return now >= activateAt(active);
}

/** An intermediate that may still take over signing: valid, with more than a sixth of its life left. */
export function canTakeOver(a: Lifetime, now: number): boolean {
  return isValidAt(a, now) && !shouldActivateNext(a, now);
}

/** An authority is usable for signing only strictly inside its validity. */
export function isValidAt(a: Lifetime, now: number): boolean {
  return now >= a.notBefore && now < a.notAfter;
}

/** "valid 2026-11-27T05:00:00.000Z to 2027-11-27T05:00:00.000Z", for messages. */
export function validityText(a: Lifetime): string {
  return `valid ${new Date(a.notBefore * 1000).toISOString()} to ${new Date(a.notAfter * 1000).toISOString()}`;
}
