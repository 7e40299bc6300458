/**
 * What happens when a request is refused: every authentication failure and
 * refused issuance is counted in metrics, and goes to the audit log with its
 * reason — within a budget, so that neither anyone who can open a connection
 * nor any holder of a workload SVID can flood the hash-chained log, which is
 * never pruned. Rate limiting goes only to metrics.
 */
import type { FastifyRequest } from 'fastify';
import type { Action } from '../ca/access-policy.js';
import { callerLabel } from '../ca/caller.js';
import type { AuditEvent, CertificateKind } from '../ca/model.js';
import { addressKey } from './client-address.js';
import type { RefusalObserver } from './error-handler.js';
import type { Clock } from '../time/clock.js';
import type { CaMetrics } from './metrics.js';
import { clipped } from './edge.js';
import { RateLimiter } from './rate-limiter.js';

/** The certificate kind each signing action would have issued, so refused and issued counts share labels. */
const KIND_OF_SIGNING_ACTION: ReadonlyMap<Action, CertificateKind> = new Map<Action, CertificateKind>([
  ['agent.attest', 'agent'],
  ['agent.renew', 'agent'],
  ['workload.svid', 'workload'],
  ['svid.mint', 'mint'],
  ['admin.credential', 'admin'],
  ['admin.renew', 'admin'],
]);

/**
 * Audited refusals: per authenticated caller, or per remote address (an
 * IPv6 /64, client-address.ts) of callers the CA could not identify, a
 * burst of 20, then one a second; and unidentified callers all together
 * 100, then 2 a second: at most some 170,000 events a day in a log that is
 * never pruned, where 20 a second let 20 addresses add 1.7 million. The next
 * audited refusal of an authenticated caller says how many of its refusals
 * went unaudited before it (`unauditedBefore`), and so does the next of an
 * unidentified caller, of those of unidentified callers from any address,
 * so the log still shows the flood.
 */
export const AUDITED_REFUSALS = { perSecond: 1, burst: 20 } as const;
export const AUDITED_ANONYMOUS_REFUSALS = { perSecond: 2, burst: 100 } as const;

/** A refusal's message may quote what the caller sent; the audit log, kept for good, holds at most this much of it. */
const MAX_AUDITED_MESSAGE = 512;

export function auditedMessage(message: string): string {
  return clipped(message, MAX_AUDITED_MESSAGE);
}

/**
 * How many certificates a refused request asked for: every CSR of a batch
 * (POST /v1/agent/svids is refused whole), up to the most a batch may hold,
 * else one. Issued certificates are counted one by one, and alerts compare
 * the two.
 */
function certificatesAsked(request: FastifyRequest, maxBatch: number): number {
  const requests = (request.body as { requests?: unknown } | null | undefined)?.requests;
  return Array.isArray(requests) && requests.length > 0 ? Math.min(requests.length, maxBatch) : 1;
}

export function refusalRecorder(
  audit: (event: AuditEvent) => Promise<void>,
  metrics: CaMetrics,
  onError: (err: unknown) => void,
  clock: Clock,
  maxBatch: number,
): RefusalObserver {
  const perCaller = new RateLimiter(clock, AUDITED_REFUSALS.perSecond, AUDITED_REFUSALS.burst);
  const perAddress = new RateLimiter(clock, AUDITED_REFUSALS.perSecond, AUDITED_REFUSALS.burst);
  const overall = new RateLimiter(clock, AUDITED_ANONYMOUS_REFUSALS.perSecond, AUDITED_ANONYMOUS_REFUSALS.burst);
  // By authenticated caller (there are as many as valid credentials), and one count for all unidentified
  // callers together, since there are as many addresses as a caller cares to send from.
  const unaudited = new Map<string, number>();
  const UNIDENTIFIED = '';
  const record = (event: AuditEvent, request: FastifyRequest) => {
    const identified = request.authentication.caller.role !== 'anonymous';
    const key = identified ? event.actor : UNIDENTIFIED;
    const within = identified ? perCaller.tryTake(event.actor) : perAddress.tryTake(addressKey(request.ip)) && overall.tryTake('all');
    if (!within) {
      unaudited.set(key, (unaudited.get(key) ?? 0) + 1);
      return;
    }
    const before = unaudited.get(key);
    unaudited.delete(key);
    audit(before ? { ...event, data: { ...event.data, unauditedBefore: before } } : event).catch(onError);
  };
  return (request: FastifyRequest, status: number, code: string, message: string) => {
    const action = request.routeOptions.config.action;
    const actor = callerLabel(request.authentication.caller);
    const where = { route: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, ip: request.ip };
    if (status === 429) {
      metrics.rateLimited.inc({ limit: action ?? 'unknown' });
      return;
    }
    if (status === 401) {
      metrics.authFailures.inc({ reason: code });
      record({ type: 'auth.failed', actor, data: { ...where, reason: code } }, request);
      return;
    }
    const kind = action && KIND_OF_SIGNING_ACTION.get(action);
    if (kind) {
      metrics.issuances.inc({ result: 'refused', key_type: 'unknown', kind }, certificatesAsked(request, maxBatch));
      record({ type: 'issuance.refused', actor, data: { ...where, reason: code, message: auditedMessage(message) } }, request);
    }
  };
}
