/** Revoking certificates, and the CRLs that publish it. */
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../ca/caller.js';
import type { RevocationSelector } from '../../ca/certificate-query.js';
import { InvalidInputError, NotFoundError } from '../../errors.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { SpiffeId } from '../../identity/spiffe-id.js';
import type { TrustDomain } from '../../identity/trust-domain.js';
import { nowSeconds } from '../../time/clock.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../x509/crl.js';
import { serialField } from '../edge.js';
import { authorityIdSchema, nameSchema, serialSchema, spiffeIdSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

interface RevokeBody {
  serial?: string;
  spiffeId?: string;
  agent?: string;
  reason?: RevocationReason;
}

function selectorFrom(body: RevokeBody, trustDomain: TrustDomain): RevocationSelector {
  const given = [body.serial, body.spiffeId, body.agent].filter((v) => v !== undefined).length;
  if (given !== 1) throw new InvalidInputError('invalid_request', 'give exactly one of serial, spiffeId or agent');
  if (body.serial) return { serial: serialField(body.serial) };
  if (body.spiffeId) {
    // This CA issued nothing outside its trust domain: "revoked 0" would read as done.
    const spiffeId = SpiffeId.parse(body.spiffeId);
    if (!spiffeId.memberOf(trustDomain)) {
      throw new InvalidInputError('foreign_trust_domain', `${spiffeId} is not in this CA's trust domain ${trustDomain.name}`);
    }
    return { spiffeId };
  }
  return { agent: parseAgentName(body.agent!) };
}

export function revocationRoutes(app: FastifyInstance, s: ServerServices): void {
  app.post<{ Body: RevokeBody }>(
    '/v1/certificates/revoke',
    {
      config: { action: 'cert.revoke' },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            serial: serialSchema,
            spiffeId: spiffeIdSchema,
            agent: nameSchema,
            reason: { enum: Object.keys(REVOCATION_REASONS) },
          },
        },
      },
    },
    async (request) => {
      const selector = selectorFrom(request.body, s.trustDomain);
      const serials = await s.revocations.revoke(selector, request.body.reason ?? 'unspecified', callerLabel(request.authentication.caller));
      return { revoked: serials.length, serials };
    },
  );

  app.get<{ Querystring: { issuer?: string } }>(
    '/v1/crl',
    {
      config: { action: 'crl.read' },
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { issuer: authorityIdSchema } } },
    },
    async (request, reply) => {
      const issuer = request.query.issuer ?? s.authorities.current().signingIntermediate(nowSeconds(s.clock)).record.id;
      const der = (await s.crls.crls()).byIssuer.get(issuer);
      if (!der) throw new NotFoundError(`CRL for authority ${issuer}`);
      return reply.type('application/pkix-crl').send(der);
    },
  );

  app.get('/v1/crl.pem', { config: { action: 'crl.read' } }, async (_request, reply) =>
    reply.type('application/x-pem-file').send((await s.crls.crls()).pem),
  );
}
