/** Auditors' listings, both paged: every certificate ever issued (filtered) and every identity. */
import type { FastifyInstance } from 'fastify';
import type { CertificateFilter, CertificateSummary } from '../../ca/certificate-query.js';
import { callerLabel } from '../../ca/caller.js';
import { InvalidInputError } from '../../errors.js';
import { adminIdentityOf } from '../../identity/meshca-identity.js';
import { parseAgentName } from '../../identity/agent-name.js';
import { SpiffeId } from '../../identity/spiffe-id.js';
import { nowSeconds } from '../../time/clock.js';
import { isoTime, pageLimit, serialField, timeField } from '../edge.js';
import { limitSchema, nameSchema, serialSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

interface ListQuery {
  spiffeId?: string;
  prefix?: string;
  agent?: string;
  activeAt?: string;
  issuedAfter?: string;
  issuedBefore?: string;
  serial?: string;
  revoked?: 'true' | 'false';
  limit?: string;
  cursor?: string;
}

/** `spiffe://td/ns/x/` or `spiffe://td/ns/x`: the IDs under that path. */
function parsePrefix(prefix: string): SpiffeId {
  return SpiffeId.parse(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}

function filterFrom(q: ListQuery): CertificateFilter {
  if (q.spiffeId !== undefined && q.prefix !== undefined) throw new InvalidInputError('invalid_request', 'give spiffeId or prefix, not both');
  const f: { -readonly [K in keyof CertificateFilter]: CertificateFilter[K] } = {};
  if (q.spiffeId !== undefined) f.spiffeId = SpiffeId.parse(q.spiffeId);
  if (q.prefix !== undefined) f.under = parsePrefix(q.prefix);
  if (q.agent !== undefined) f.agent = parseAgentName(q.agent);
  f.activeAt = timeField('activeAt', q.activeAt);
  f.issuedAfter = timeField('issuedAfter', q.issuedAfter);
  f.issuedBefore = timeField('issuedBefore', q.issuedBefore);
  if (q.serial !== undefined) f.serial = serialField(q.serial);
  if (q.revoked !== undefined) f.revoked = q.revoked === 'true';
  return f;
}

/**
 * Whom an admin credential lets act, as the audit log names its holder
 * ("operator:bob"), beside `requestedBy`, who asked for it: an operator may
 * issue credentials in other names. Null for every other certificate.
 */
function holderOf(c: CertificateSummary): string | null {
  if (c.kind !== 'admin') return null;
  const admin = adminIdentityOf(SpiffeId.parse(c.spiffeId));
  return admin ? callerLabel(admin) : null;
}

function certificateJson(c: CertificateSummary) {
  return {
    serial: c.serial,
    spiffeId: c.spiffeId,
    dns: c.dnsNames,
    notBefore: isoTime(c.notBefore),
    notAfter: isoTime(c.notAfter),
    issuedAt: isoTime(c.issuedAt),
    kind: c.kind,
    requestedBy: c.requestedBy,
    holder: holderOf(c),
    agent: c.agent,
    entryId: c.entryId,
    keyType: c.keyType,
    publicKeySha256: c.publicKeySha256,
    issuer: c.issuerId,
    revokedAt: c.revokedAt === null ? null : isoTime(c.revokedAt),
    revocationReason: c.revocationReason,
  };
}

interface IdentityQuery {
  prefix?: string;
  limit?: string;
  cursor?: string;
}

// An empty value is refused like any other malformed one, never read as "no filter".
const str = { type: 'string', minLength: 1, maxLength: 2048 } as const;

export function certificateRoutes(app: FastifyInstance, s: ServerServices): void {
  app.get<{ Querystring: ListQuery }>(
    '/v1/certificates',
    {
      config: { action: 'cert.read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            spiffeId: str,
            prefix: str,
            agent: nameSchema,
            activeAt: { type: 'string', maxLength: 40 },
            issuedAfter: { type: 'string', maxLength: 40 },
            issuedBefore: { type: 'string', maxLength: 40 },
            serial: serialSchema,
            revoked: { enum: ['true', 'false'] },
            limit: limitSchema,
            cursor: { type: 'string', maxLength: 64 },
          },
        },
      },
    },
    async (request) => {
      const page = await s.catalog.listCertificates(filterFrom(request.query), request.query.cursor ?? null, pageLimit(request.query.limit));
      return { certificates: page.items.map(certificateJson), nextCursor: page.nextCursor };
    },
  );

  app.get<{ Querystring: IdentityQuery }>(
    '/v1/identities',
    {
      config: { action: 'cert.read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { prefix: str, limit: limitSchema, cursor: { type: 'string', maxLength: 2800 } },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const under = q.prefix === undefined ? undefined : parsePrefix(q.prefix);
      const page = await s.catalog.listIdentities(nowSeconds(s.clock), under, q.cursor ?? null, pageLimit(q.limit));
      return {
        identities: page.items.map((i) => ({
          spiffeId: i.spiffeId,
          firstIssuedAt: isoTime(i.firstIssuedAt),
          lastIssuedAt: isoTime(i.lastIssuedAt),
          certificates: i.certificates,
          live: i.live,
          registered: i.registered,
        })),
        nextCursor: page.nextCursor,
      };
    },
  );
}
