/**
 * What happens when a request is refused: authentication failures and refused
 * issuance go to the audit log (with their reason) and to metrics; rate
 * limiting only to metrics, so a flood cannot fill the log.
 */
import type { FastifyRequest } from 'fastify';
import type { Action } from '../ca/access-policy.js';
import { callerLabel } from '../ca/caller.js';
import type { AuditEvent, CertificateKind } from '../ca/model.js';
import type { RefusalObserver } from './error-handler.js';
import type { CaMetrics } from './metrics.js';

/** The certificate kind each signing action would have issued, so refused and issued counts share labels. */
const KIND_OF_SIGNING_ACTION: ReadonlyMap<Action, CertificateKind> = new Map<Action, CertificateKind>([
  ['agent.attest', 'agent'],
  ['agent.renew', 'agent'],
  ['workload.svid', 'workload'],
  ['svid.mint', 'mint'],
  ['admin.credential', 'admin'],
]);

export function refusalRecorder(audit: (event: AuditEvent) => Promise<void>, metrics: CaMetrics, onError: (err: unknown) => void): RefusalObserver {
  return (request: FastifyRequest, status: number, code: string, message: string) => {
    const action = request.routeOptions.config.action;
    const actor = request.authentication ? callerLabel(request.authentication.caller) : 'anonymous';
    const where = { route: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, ip: request.ip };
    if (status === 429) {
      metrics.rateLimited.inc({ limit: action ?? 'unknown' });
      return;
    }
    if (status === 401) {
      metrics.authFailures.inc({ reason: code });
      audit({ type: 'auth.failed', actor, data: { ...where, reason: code } }).catch(onError);
      return;
    }
    const kind = action && KIND_OF_SIGNING_ACTION.get(action);
    if (kind) {
      metrics.issuances.inc({ result: 'refused', key_type: 'unknown', kind });
      audit({ type: 'issuance.refused', actor, data: { ...where, reason: code, message } }).catch(onError);
    }
  };
}
