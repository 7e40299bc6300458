/** POST /v1/svids/mint: an operator obtains an SVID for any identity of the trust domain, like `spire-server x509 mint`. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import { assertNotReserved } from '../../ca/reserved-ids.js';
import { bundleRootsDer } from '../../ca/trust-bundle.js';
import { SpiffeId } from '../../identity/spiffe-id.js';
import { caCertificatesToPem } from '../../x509/pem.js';
import { dnsNamesField, ttlField } from '../edge.js';
import { operatorCeiling } from '../operator-ceiling.js';
import { csrSchema, dnsNamesSchema, issuedSvidSchema, SMALL_BODY_LIMIT, spiffeIdSchema, ttlSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';
import { svidJson } from '../svid-response.js';

interface MintBody {
  spiffeId: string;
  csr: string;
  ttl?: string | number;
  dns?: string[];
}

export function mintRoutes(app: FastifyInstance, s: ServerServices): void {
  app.post<{ Body: MintBody }>(
    '/v1/svids/mint',
    {
      config: { action: 'svid.mint' },
      bodyLimit: SMALL_BODY_LIMIT,
      schema: {
        body: {
          type: 'object',
          required: ['spiffeId', 'csr'],
          additionalProperties: false,
          properties: { spiffeId: spiffeIdSchema, csr: csrSchema, ttl: ttlSchema, dns: dnsNamesSchema },
        },
        response: {
          200: {
            type: 'object',
            required: ['svid', 'bundle'],
            properties: { svid: issuedSvidSchema, bundle: { type: 'string' } },
          },
        },
      },
    },
    async (request) => {
      const spiffeId = SpiffeId.parseWorkload(request.body.spiffeId);
      assertNotReserved(spiffeId);
      const ttl = ttlField(request.body.ttl);
      const dnsNames = dnsNamesField(request.body.dns);
      const csr = await s.csrVerifier.verify(request.body.csr);
      const caller = request.authentication.caller;
      const ceiling = operatorCeiling(request, caller);
      const svid = await s.issuer.issue({
        csr,
        spiffeId,
        dnsNames,
        ...(ttl ? { ttl } : {}),
        kind: 'mint',
        requestedBy: callerLabel(caller),
        ...(ceiling === undefined ? {} : { notAfterCeiling: ceiling }),
      });
      return { svid: svidJson(svid), bundle: caCertificatesToPem(bundleRootsDer(s.authorities.current())) };
    },
  );
}
