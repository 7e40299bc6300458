/** POST /v1/admin/credentials: an operator issues a client certificate for a remote operator or auditor. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { callerLabel } from '../../ca/caller.js';
import { assertAdminNameFree } from '../../ca/reserved-ids.js';
import { adminSpiffeId } from '../../identity/meshca-identity.js';
import { bundleRootsDer } from '../../ca/trust-bundle.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { caCertificatesToPem } from '../../x509/pem.js';
import { ttlField } from '../edge.js';
import { csrSchema, issuedSvidSchema, nameSchema, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';
import { svidJson } from '../svid-response.js';

/** The notAfter (epoch seconds) of the client certificate this request came with, which authentication found valid. */
function presentedNotAfter(request: FastifyRequest): number {
  const cert = (request.raw.socket as TLSSocket).getPeerX509Certificate?.();
  if (!cert) throw new Error('an operator authenticated over mutual TLS presented no certificate');
  return Math.floor(Date.parse(cert.validTo) / 1000);
}

export function adminCredentialRoutes(app: FastifyInstance, s: ServerServices): void {
  app.post<{ Body: { role: 'operator' | 'auditor'; name: string; csr: string; ttl?: string | number } }>(
    '/v1/admin/credentials',
    {
      config: { action: 'admin.credential' },
      schema: {
        body: {
          type: 'object',
          required: ['role', 'name', 'csr'],
          additionalProperties: false,
          properties: { role: { enum: ['operator', 'auditor'] }, name: nameSchema, csr: csrSchema, ttl: ttlSchema },
        },
        response: {
          200: { type: 'object', required: ['svid', 'bundle'], properties: { svid: issuedSvidSchema, bundle: { type: 'string' } } },
        },
      },
    },
    async (request) => {
      const name = parseAgentName(request.body.name, 'admin name');
      assertAdminNameFree(name);
      const ttl = ttlField(request.body.ttl);
      const caller = request.authentication.caller;
      const svid = await s.issuer.issue({
        csr: await s.csrVerifier.verify(request.body.csr),
        spiffeId: adminSpiffeId(s.trustDomain, request.body.role, name),
        ...(ttl ? { ttl } : {}),
        kind: 'admin',
        requestedBy: callerLabel(caller),
        // A remote operator's credentials end with its own, so revoking it bounds every one it issued, its own renewals
        // included; only the CA host's operator starts a credential afresh.
        ...(caller.role === 'operator' && caller.via === 'mtls' ? { notAfterCeiling: presentedNotAfter(request) } : {}),
      });
      return { svid: svidJson(svid), bundle: caCertificatesToPem(bundleRootsDer(s.authorities.current())) };
    },
  );
}
