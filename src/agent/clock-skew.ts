/**
 * Whether this host's clock agrees with the CA's. The agent judges every
 * certificate's lifetime by its own clock: one far ahead of the CA's takes a
 * fresh SVID for expired and throws it away — after spending the one-time
 * join token on it — and one far behind renews too late. So before doing what
 * cannot be undone on a wrong clock (attesting with the join token, giving up
 * an agent SVID that looks expired), the agent compares its clock with the
 * CA's, and it says so at once when an SVID arrives outside its validity.
 * Every sync compares them again, by the Date header of the CA's answer: a
 * clock that goes wrong later makes /readyz say so, rather than call an SVID
 * valid that has expired.
 */
import type { Clock } from '../time/clock.js';
import type { CaApi } from './ca-api.js';
import type { ValidityMs } from './timing.js';

/**
 * The largest difference between this host's clock and the CA's that the
 * agent works with: 5 minutes, Kerberos's default tolerance and the usual
 * bound for hosts meant to be time-synced. It is far above the error of the
 * measurement (the Date header has whole seconds and arrives a round trip
 * late) and above what the CA already absorbs by setting notBefore back
 * (30 s at most, ca/validity.ts), so a host that merely drifts a little is
 * never stopped; and it is far below the SVID lifetimes meshca issues (1 hour
 * by default), so an agent that passes still renews well before expiry.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** X.509 times are whole seconds, and hosts whose time is synced still differ by a fraction of one. */
const FRESH_SVID_TOLERANCE_MS = 1000;

export type ClockSkewCode = 'clock_skew' | 'svid_expired_on_arrival' | 'svid_not_yet_valid_on_arrival';

/** The clocks of this host and the CA disagree: time sync (NTP) must be fixed; retrying cannot fix it. */
export class ClockSkewError extends Error {
  constructor(
    readonly code: ClockSkewCode,
    /** This host's clock minus the CA's, in milliseconds (positive: ahead); judged from an SVID, an estimate. */
    readonly skewMs: number,
    message: string,
  ) {
    super(message);
  }

  /** Fields for a log line. */
  get logFields(): { code: ClockSkewCode; skewSeconds: number } {
    return { code: this.code, skewSeconds: Math.round(this.skewMs / 1000) };
  }
}

/**
 * How often a clock that stays too far from the CA's is said again. Without
 * a valid SVID the agent retries every few seconds, comparing clocks each
 * time; an error line at each would be some 700 an hour, for as long as time
 * sync stays broken.
 */
export const SKEW_REPEAT_MS = 10 * 60_000;

/** Which clock-skew failures get an error line: the first of each kind, then one every SKEW_REPEAT_MS while it lasts. */
export class SkewReports {
  private last: { readonly code: ClockSkewCode; readonly atMs: number } | undefined;

  /** Whether to log `err`, seen at `now`; remembers it when so. */
  shouldSay(err: ClockSkewError, now: number): boolean {
    const last = this.last;
    // A clock set back since the last line (now before it) says it again: something changed.
    if (last?.code === err.code && now >= last.atMs && now - last.atMs < SKEW_REPEAT_MS) return false;
    this.last = { code: err.code, atMs: now };
    return true;
  }

  /** A step went through: a skew found after it is news again. */
  clear(): void {
    this.last = undefined;
  }
}

export class CaClockCheck {
  /** This host's clock minus the CA's when last compared, if beyond the bound; undefined when within it or unknown. */
  private measuredSkewMs: number | undefined;

  constructor(
    private readonly ca: Pick<CaApi, 'serverDateMs'>,
    private readonly clock: Clock,
  ) {}

  /** The last comparison found the clocks too far apart: this host cannot tell whether a certificate is valid. */
  get skewed(): boolean {
    return this.measuredSkewMs !== undefined;
  }

  /**
   * Reads the CA's clock and remembers whether it and this host's differ by
   * more than MAX_CLOCK_SKEW_MS. A CA that cannot tell its time (no Date
   * header) counts as agreeing: refusing then would stop an agent for
   * nothing known. Rejects only when the CA cannot be reached.
   */
  async compare(): Promise<void> {
    if (!this.ca.serverDateMs) return;
    const before = this.clock.nowMs();
    const caMs = await this.ca.serverDateMs();
    const skewMs = caMs === undefined ? 0 : Math.round((before + this.clock.nowMs()) / 2 - caMs);
    this.measuredSkewMs = Math.abs(skewMs) > MAX_CLOCK_SKEW_MS ? skewMs : undefined;
  }

  /**
   * Compares again by the CA's clock as an answer that has just arrived told
   * it (`caMs`, undefined when it did not); the error to report when this
   * turns the clocks from agreeing to too far apart, undefined otherwise.
   */
  observe(caMs: number | undefined): ClockSkewError | undefined {
    if (caMs === undefined) return undefined;
    const wasSkewed = this.skewed;
    const skewMs = this.clock.nowMs() - caMs;
    this.measuredSkewMs = Math.abs(skewMs) > MAX_CLOCK_SKEW_MS ? skewMs : undefined;
    if (wasSkewed || !this.skewed) return undefined;
    return new ClockSkewError(
      'clock_skew',
      skewMs,
      `this host's clock is ${aheadOrBehind(skewMs)} the CA's (by the Date header of its answer to a sync), more than the ${formatSpan(MAX_CLOCK_SKEW_MS)} allowed: ` +
        'the installed SVID may look valid when it is not, so /readyz says not ready until the clocks agree again; fix time sync (NTP) on this host or on the CA',
    );
  }

  /**
   * The CA's time at this host's `now`, as the last comparison measured it:
   * `now` itself while the clocks agree, or could not be compared. Certificates
   * carry the CA's time, so it says when one is due for renewal (which gives
   * up nothing) while this host's clock cannot.
   */
  caNowMs(now: number): number {
    return now - (this.measuredSkewMs ?? 0);
  }

  /**
   * When, by this host's clock, a time certificates carry (a renewal time) is
   * first reached by this host's clock or by the CA's as last measured: the
   * due checks renew at the earlier of the two, so the loop wakes then too
   * rather than up to a --sync-interval later, when this host is far behind.
   */
  firstReachedMs(caMs: number): number {
    return Math.min(caMs, caMs + (this.measuredSkewMs ?? 0));
  }

  /** Before what cannot be undone on a wrong clock: throws when the last comparison found the clocks too far apart. */
  throwIfSkewed(): void {
    const skewMs = this.measuredSkewMs;
    if (skewMs === undefined) return;
    throw new ClockSkewError(
      'clock_skew',
      skewMs,
      `this host's clock is ${aheadOrBehind(skewMs)} the CA's (by the Date header of its answer), more than the ${formatSpan(MAX_CLOCK_SKEW_MS)} allowed: ` +
        'it would take valid certificates for expired or renew them too late, so it neither attests with the join token nor gives up its agent SVID; ' +
        'fix time sync (NTP) on this host or on the CA',
    );
  }

  /**
   * Judges an SVID the CA has just issued by this host's clock: an error
   * describing the skew when it looks expired or not yet valid, undefined
   * when it looks as it should.
   */
  inspectFresh(cert: ValidityMs, what: string): ClockSkewError | undefined {
    const now = this.clock.nowMs();
    const at = `by this host's clock (${new Date(now).toISOString()})`;
    if (now >= cert.notAfterMs) {
      // The CA issued it at about its notBefore (set back by seconds at most), which is where this clock stands.
      const skewMs = now - cert.notBeforeMs;
      return new ClockSkewError(
        'svid_expired_on_arrival',
        skewMs,
        `the ${what} the CA just issued expired at ${new Date(cert.notAfterMs).toISOString()} ${at}: ` +
          `this host's clock is about ${aheadOrBehind(skewMs)} the CA's; fix time sync (NTP) on this host or on the CA`,
      );
    }
    if (now < cert.notBeforeMs - FRESH_SVID_TOLERANCE_MS) {
      const skewMs = now - cert.notBeforeMs;
      return new ClockSkewError(
        'svid_not_yet_valid_on_arrival',
        skewMs,
        `the ${what} the CA just issued is not valid before ${new Date(cert.notBeforeMs).toISOString()} ${at}: ` +
          `this host's clock is at least ${aheadOrBehind(skewMs)} the CA's, and peers that share its time refuse the SVID; fix time sync (NTP) on this host or on the CA`,
      );
    }
    return undefined;
  }
}

function aheadOrBehind(skewMs: number): string {
  return `${formatSpan(Math.abs(skewMs))} ${skewMs > 0 ? 'ahead of' : 'behind'}`;
}

/** "42 s", "9 min 30 s", "2.0 h": precise enough to see what is wrong, never rounded up. */
export function formatSpan(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${(Math.floor(s / 360) / 10).toFixed(1)} h`;
}
