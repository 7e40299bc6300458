/**
 * When the agent acts: renewal around half of a certificate's life, when the
 * CA suggests or with ±10 % jitter (so a fleet started together does not
 * renew together), and capped exponential backoff with jitter after failures.
 */
import { unitRandom, type RandomSource } from '../random/random-source.js';

/**
 * The moment to renew a certificate valid from notBefore to notAfter (ms).
 *
 * The CA suggests one (`renewAfter`), spread so that the fleet's renewals
 * arrive evenly (ca/renewal-slots.ts); it is followed when it falls between
 * 40 % and 60 % of the lifetime. Otherwise — no suggestion, a CA clock far
 * from ours, a state directory from an earlier run — the agent draws its own:
 * the half-life point moved by up to ±10 % of the half-life, i.e. between
 * 45 % and 55 % of the lifetime.
 */
export function renewalTime(notBeforeMs: number, notAfterMs: number, random: RandomSource, suggestedMs?: number): number {
  const life = notAfterMs - notBeforeMs;
  if (suggestedMs !== undefined && suggestedMs >= notBeforeMs + 0.4 * life && suggestedMs <= notBeforeMs + 0.6 * life) {
    return suggestedMs;
  }
  const jitter = (unitRandom(random) * 2 - 1) * 0.1 * (life / 2);
  return Math.round(notBeforeMs + life / 2 + jitter);
}

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Waits start at a second and grow to twenty minutes: with SVIDs renewed at
 * half-life there is far more slack than that, and a long, fully jittered wait
 * is what spreads a fleet's retries out after a CA outage instead of landing
 * them all at once (see test/bench/renewal-storm.ts).
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 1_200_000 };

/** The ceiling for retry number `attempt` (1 for the first retry): min(max, initial·2^(attempt-1)). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
}

/** Delay before retry number `attempt`: random in [d/2, d] with d its ceiling. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: RandomSource): number {
  const ceiling = backoffCeiling(attempt, policy);
  return Math.round(ceiling / 2 + (unitRandom(random) * ceiling) / 2);
}

/** Longest wait between attempts while no valid SVID is installed: the workload is down until one is. */
export const WITHOUT_SVID_MAX_RETRY_MS = 5000;

/**
 * When to try the CA again after `attempt` consecutive failures, given how long
 * the installed SVID still lives (0 or less: none valid).
 *
 * Without a valid SVID the workload is down: exponential backoff with jitter
 * from one second, capped at a few seconds. With one, there is slack: the wait
 * is drawn uniformly below half of the remaining life (capped at
 * policy.maxMs), so nobody's SVID expires waiting and a fleet whose renewals
 * failed together during an outage comes back spread over a quarter of an hour
 * rather than all at once; as expiry nears, the window halves with each
 * attempt and attempts come faster. (A window of a quarter of the remaining
 * life, capped at ten minutes, left a 2-minute outage's backlog dense enough
 * to reach 1.4–1.54× the mean renewal rate in single seconds.)
 */
export function retryDelay(attempt: number, remainingMs: number, policy: BackoffPolicy, random: RandomSource): number {
  if (remainingMs <= 0) return Math.min(backoffDelay(attempt, policy, random), WITHOUT_SVID_MAX_RETRY_MS);
  const window = Math.min(policy.maxMs, remainingMs / 2);
  return Math.max(250, Math.round(unitRandom(random) * window));
}

/** The span of a certificate's validity, in milliseconds since the epoch. */
export interface ValidityMs {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/**
 * When to renew a certificate just received: the CA's suggestion (an RFC 3339
 * time, ignored when unreadable), or half-life with jitter counted from
 * receipt if that is later than its notBefore (which the CA sets back for
 * clock skew), so that a short-lived SVID is never due the moment it arrives.
 */
export function renewalAfterReceipt(cert: ValidityMs, receivedMs: number, random: RandomSource, suggested?: string): number {
  const start = Math.max(cert.notBeforeMs, Math.min(receivedMs, cert.notAfterMs));
  const suggestedMs = suggested === undefined ? undefined : Date.parse(suggested);
  return renewalTime(start, cert.notAfterMs, random, Number.isNaN(suggestedMs) ? undefined : suggestedMs);
}

/** Half-life with jitter from the certificate's own times, for one whose receipt is unknown (a previous run's). */
export function renewalFromOwnLife(cert: ValidityMs, random: RandomSource): number {
  return renewalTime(cert.notBeforeMs, cert.notAfterMs, random);
}

/**
 * How long the agent can go without the CA: until the installed SVID
 * expires (0 without one: the workload is down), or sooner the agent's own
 * SVID, whose expiry would need a new join token to recover from. One that
 * has expired already bounds nothing: retrying sooner cannot save it.
 */
export function slackMs(now: number, installedNotAfterMs: number | undefined, agentNotAfterMs: number | undefined): number {
  if (installedNotAfterMs === undefined || installedNotAfterMs <= now) return 0;
  const agentLeft = agentNotAfterMs !== undefined && agentNotAfterMs > now ? agentNotAfterMs - now : Infinity;
  return Math.min(installedNotAfterMs - now, agentLeft);
}

/**
 * The wait after failure number `attempt` to reach or use the CA: retryDelay
 * within the slack; no wait when an unused join token can replace a
 * credential the CA just refused; and never sooner than a Retry-After the CA
 * sent, unless that would outlast half of the slack.
 */
export function caRetryDelay(o: {
  readonly attempt: number;
  readonly slackMs: number;
  readonly retryAfterMs: number | undefined;
  readonly attestAtOnce: boolean;
  readonly policy: BackoffPolicy;
  readonly random: RandomSource;
}): number {
  if (o.attestAtOnce) return 0;
  const delay = retryDelay(o.attempt, o.slackMs, o.policy, o.random);
  // Never longer than the longest backoff: a Retry-After of a day (or 1e300 s) must not park a workload.
  const askedMs = Math.min(o.retryAfterMs ?? 0, o.policy.maxMs);
  return Math.max(delay, o.slackMs > 0 ? Math.min(askedMs, o.slackMs / 2) : askedMs);
}

/** Every moment something may be due, in milliseconds since the epoch; undefined: nothing of that kind. */
export interface DueTimes {
  readonly nextSyncMs: number;
  readonly agentRenewalMs: number | undefined;
  /** The installed SVID's renewal, while an entry grants it (otherwise the next sync is the work). */
  readonly workloadRenewalMs: number | undefined;
  /** While backing off after a failure: nothing that needs the CA happens before it. */
  readonly caRetryMs: number | undefined;
  readonly installedNotAfterMs: number | undefined;
  readonly reloadRetryMs: number | undefined;
}

/**
 * The longest wait a timer keeps (2^31 - 1 ms, some 24.8 days): setTimeout
 * fires after 1 ms when asked for more, which would make a long
 * --sync-interval a busy loop. A longer wait is waited in parts.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The wait until the next step: the earliest due time, at least 50 ms, and at most `maxWaitMs` and MAX_TIMER_MS. */
export function waitUntilDue(now: number, due: DueTimes, maxWaitMs: number): number {
  const earliest = (times: Array<number | undefined>) => Math.min(...times.filter((t): t is number => t !== undefined));
  const caWork = Math.max(earliest([due.nextSyncMs, due.agentRenewalMs, due.workloadRenewalMs]), due.caRetryMs ?? 0);
  const expiry = due.installedNotAfterMs !== undefined && due.installedNotAfterMs > now ? due.installedNotAfterMs : undefined;
  const next = earliest([caWork, expiry, due.reloadRetryMs]);
  return Math.max(50, Math.min(next - now, maxWaitMs, MAX_TIMER_MS));
}
