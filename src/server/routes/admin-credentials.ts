/** POST /v1/admin/credentials: an operator issues a client certificate for a remote operator or auditor. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import { assertAdminNameFree } from '../../ca/reserved-ids.js';
import { adminSpiffeId } from '../../identity/meshca-identity.js';
import { bundleRootsDer } from '../../ca/trust-bundle.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { caCertificatesToPem } from '../../x509/pem.js';
import { ttlField } from '../edge.js';
import { operatorCeiling } from '../operator-ceiling.js';
import { csrSchema, issuedSvidSchema, nameSchema, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';
import { svidJson } from '../svid-response.js';

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
      const ceiling = operatorCeiling(request, caller);
      const svid = await s.issuer.issue({
        csr: await s.csrVerifier.verify(request.body.csr),
        spiffeId: adminSpiffeId(s.trustDomain, request.body.role, name),
        ...(ttl ? { ttl } : {}),
        kind: 'admin',
        requestedBy: callerLabel(caller),
        // Its own renewals included: only the CA host's operator starts a credential afresh.
        ...(ceiling === undefined ? {} : { notAfterCeiling: ceiling }),
      });
      return { svid: svidJson(svid), bundle: caCertificatesToPem(bundleRootsDer(s.authorities.current())) };
    },
  );
}
