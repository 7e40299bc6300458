/**
 * POST /v1/admin/credentials: an operator issues a client certificate for a
 * remote operator or auditor. POST /v1/admin/credentials/renew: the holder of
 * one renews it, for the same role and name (admin-renewal.ts).
 */
import type { FastifyInstance } from 'fastify';
import { callerLabel, type Caller } from '../../ca/caller.js';
import type { CredentialHolder } from '../../ca/admin-renewal.js';
import { assertAdminNameFree } from '../../ca/reserved-ids.js';
import { adminSpiffeId } from '../../identity/meshca-identity.js';
import { bundleRootsDer } from '../../ca/trust-bundle.js';
import { ForbiddenError } from '../../errors.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { caCertificatesToPem } from '../../x509/pem.js';
import { ttlField } from '../edge.js';
import { operatorCeiling } from '../operator-ceiling.js';
import { csrSchema, issuedSvidSchema, nameSchema, SMALL_BODY_LIMIT, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';
import { svidJson } from '../svid-response.js';

const svidWithBundle = { type: 'object', required: ['svid', 'bundle'], properties: { svid: issuedSvidSchema, bundle: { type: 'string' } } } as const;

/** The admin credential the caller presented; the CA host's operator, on the local socket, holds none. */
function holderOf(caller: Caller): CredentialHolder {
  if (caller.role === 'auditor' || (caller.role === 'operator' && caller.via === 'mtls')) return { role: caller.role, name: caller.name, serial: caller.serial };
  throw new ForbiddenError('forbidden', 'only the holder of an admin credential renews it, with that credential; the CA host\'s operator holds none (`meshca admin credential` issues one)');
}

export function adminCredentialRoutes(app: FastifyInstance, s: ServerServices): void {
  const bundlePem = () => caCertificatesToPem(bundleRootsDer(s.authorities.current()));

  app.post<{ Body: { role: 'operator' | 'auditor'; name: string; csr: string; ttl?: string | number } }>(
    '/v1/admin/credentials',
    {
      config: { action: 'admin.credential' },
      bodyLimit: SMALL_BODY_LIMIT,
      schema: {
        body: {
          type: 'object',
          required: ['role', 'name', 'csr'],
          additionalProperties: false,
          properties: { role: { enum: ['operator', 'auditor'] }, name: nameSchema, csr: csrSchema, ttl: ttlSchema },
        },
        response: { 200: svidWithBundle },
      },
    },
    async (request) => {
      const name = parseAgentName(request.body.name, 'admin name');
      assertAdminNameFree(name);
      const ttl = ttlField(request.body.ttl);
      const caller = request.authentication.caller;
      const ceiling = operatorCeiling(request, caller);
      const svid = await s.issuer.issue({
        csr: await s.csrVerifier.verify(request.body.csr),
        spiffeId: adminSpiffeId(s.trustDomain, request.body.role, name),
        ...(ttl ? { ttl } : {}),
        kind: 'admin',
        requestedBy: callerLabel(caller),
        // Who asked is the event's actor; whom the credential lets act, in the words the log will name it by, is said beside it.
        eventFacts: { holder: callerLabel({ role: request.body.role, name }) },
        // Its own name included: past the operator's own end, a credential lives on only by its holder's renewals.
        ...(ceiling === undefined ? {} : { notAfterCeiling: ceiling }),
      });
      return { svid: svidJson(svid), bundle: bundlePem() };
    },
  );

  app.post<{ Body: { csr: string; ttl?: string | number } }>(
    '/v1/admin/credentials/renew',
    {
      config: { action: 'admin.renew' },
      bodyLimit: SMALL_BODY_LIMIT,
      // Charged as it arrives (access control has named the holder by then), as an agent's signing requests are.
      onRequest: async (request) => s.limits.adminRenewal.take(callerLabel(request.authentication.caller)),
      schema: {
        body: { type: 'object', required: ['csr'], additionalProperties: false, properties: { csr: csrSchema, ttl: ttlSchema } },
        response: { 200: svidWithBundle },
      },
    },
    async (request) => {
      const holder = holderOf(request.authentication.caller);
      const ttl = ttlField(request.body.ttl);
      const svid = await s.adminRenewal.renew(holder, await s.csrVerifier.verify(request.body.csr), ttl);
      return { svid: svidJson(svid), bundle: bundlePem() };
    },
  );
}
