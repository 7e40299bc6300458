import { InvalidInputError } from '../errors.js';
import { formatDuration, writtenAs, type Duration, type WrittenDuration } from '../time/duration.js';

export interface LifetimePolicy {
  /** Lifetime when the request names none. */
  readonly defaultTtl: Duration;
  /** Longest lifetime a request may ask for; longer requests are refused, not clamped. */
  readonly maxTtl: Duration;
  /** Where maxTtl is set, as the embedding names it (SettingNames.svidMaxTtl), for the refusal to point to. */
  readonly maxTtlSetting: string;
}

/**
 * How far notBefore is set back so that peers with slightly slow clocks accept
 * a fresh certificate: 30 s, but never more than a tenth of the lifetime, so
 * that the half-life agents renew at stays close to half of what was asked.
 */
const BACKDATE_SECONDS = 30;

export function backdateFor(ttl: number): number {
  return Math.min(BACKDATE_SECONDS, Math.floor(ttl / 10));
}

export interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * The validity of a new certificate: the requested (or default) lifetime from
 * now, refused above the maximum, and kept inside the issuer's own validity —
 * cut at its expiry so the chain never ends before the leaf, and backdated no
 * further than its start (an imported intermediate may have begun seconds ago).
 * It is cut the same way at `ceiling` (epoch seconds), the end of whatever
 * vouched for the request where that must bound it (a remote operator's own
 * credential, for the credentials it issues).
 */
export function decideValidity(now: number, requested: WrittenDuration | undefined, policy: LifetimePolicy, issuer: Validity, ceiling = Infinity): Validity {
  const asked = requested ?? writtenAs(policy.defaultTtl);
  if (asked.seconds > policy.maxTtl) throw ttlAboveMaximum(asked, policy);
  const ttl = asked.seconds;
  return { notBefore: Math.max(now - backdateFor(ttl), issuer.notBefore), notAfter: Math.min(now + ttl, issuer.notAfter, ceiling) };
}

/**
 * The refusal of a lifetime above the CA's maximum, for a request or an entry.
 * It names the maximum and the CA setting it comes from, so that whoever is
 * refused knows whether to ask for less or have the CA's operator allow more.
 * The lifetime is quoted as it was written ("300m", not the "5h" it is), so
 * whoever typed it recognises it; "ttl:" labels the field, which the CLI
 * renames to the flag typed (--ttl).
 */
export function ttlAboveMaximum(ttl: WrittenDuration, policy: Pick<LifetimePolicy, 'maxTtl' | 'maxTtlSetting'>): InvalidInputError {
  return new InvalidInputError(
    'ttl_exceeds_max',
    `ttl: ${ttl.written} is above this CA's maximum certificate lifetime of ${formatDuration(policy.maxTtl)} (its ${policy.maxTtlSetting})`,
  );
}
