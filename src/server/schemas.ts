/** JSON schema fragments shared by routes. Sizes here are the first bound on every input. */
import { MAX_CSR_PEM_BYTES } from '../x509/csr.js';

export const csrSchema = { type: 'string', minLength: 1, maxLength: MAX_CSR_PEM_BYTES } as const;
export const spiffeIdSchema = { type: 'string', minLength: 1, maxLength: 2048 } as const;
export const ttlSchema = {
  anyOf: [
    { type: 'string', minLength: 2, maxLength: 12 },
    { type: 'integer', minimum: 1, maximum: 999_999_999 },
  ],
} as const;
export const dnsNamesSchema = { type: 'array', maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 253 } } as const;
/** The longest agent or credential name; a path parameter may be this long (Fastify's default cut is 100). */
export const MAX_NAME_LENGTH = 128;
export const nameSchema = { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: '^[A-Za-z0-9._-]+$' } as const;

/** A page's size, as text in a query; pageLimit (edge.ts) holds it to the most a page may have. */
/**
 * An authority's id: its subjectKeyIdentifier in hex, which meshca makes 20
 * bytes long but an imported CA may make any length (RFC 5280 fixes none).
 */
export const authorityIdSchema = { type: 'string', pattern: '^(?:[0-9a-f]{2}){1,64}$' } as const;

export const limitSchema = { type: 'string', pattern: '^[1-9][0-9]{0,3}$' } as const;

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

export const issuedSvidSchema = {
  type: 'object',
  required: ['spiffeId', 'serial', 'svid', 'notBefore', 'notAfter', 'renewAfter'],
  properties: {
    spiffeId: { type: 'string' },
    serial: { type: 'string' },
    svid: { type: 'string', description: 'PEM chain: the leaf, then intermediates' },
    notBefore: { type: 'string' },
    notAfter: { type: 'string' },
    renewAfter: { type: 'string' },
    entryId: { type: 'string' },
  },
} as const;

/** Small bodies for everything but CSR batches. */
export const SMALL_BODY_LIMIT = 64 * 1024;
