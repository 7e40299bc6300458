/**
 * JSON schema fragments shared by routes. Sizes here are the first bound on
 * every input. Every string pattern a route checks is declared here, with
 * what it means in words (PATTERN_MEANINGS).
 */
import { EVENT_HASH_PATTERN } from '../ca/audit-verifier.js';
import { JOIN_TOKEN_ID_PATTERN } from '../ca/join-tokens.js';
import { MAX_PAGE } from '../ca/page-size.js';
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

/**
 * An authority's id: its subjectKeyIdentifier in hex, which meshca makes 20
 * bytes long but an imported CA may make any length (RFC 5280 fixes none).
 */
export const authorityIdSchema = { type: 'string', pattern: '^(?:[0-9a-f]{2}){1,64}$' } as const;

/** A page's size, as text in a query; pageLimit (edge.ts) holds it to the most a page may have. */
export const limitSchema = { type: 'string', pattern: '^[1-9][0-9]{0,3}$' } as const;

/** A certificate's serial number as hex, as the CA lists it; serialField (edge.ts) makes it canonical. */
export const serialSchema = { type: 'string', pattern: '^[0-9a-fA-F]{1,40}$' } as const;

/** A join token's id: the first 16 hex digits of its hash, as token list shows it. */
export const tokenIdSchema = { type: 'string', pattern: JOIN_TOKEN_ID_PATTERN } as const;

/** An audit event's hash, as audit verify prints it in a head (SEQ:HASH). */
export const eventHashSchema = { type: 'string', pattern: EVENT_HASH_PATTERN.source } as const;

/**
 * What each pattern above asks for, in words: a refusal says this where Ajv
 * would quote the regular expression ("must match pattern \"^(?:[0-9a-f]{2})…\""),
 * which tells an operator at a shell nothing (error-handler.ts). Each follows
 * the field's name: "agent may hold only …".
 */
export const PATTERN_MEANINGS: ReadonlyMap<string, string> = new Map([
  [nameSchema.pattern, 'may hold only letters, digits, ".", "_" and "-"'],
  [authorityIdSchema.pattern, 'must be an authority id: its subject key identifier in lowercase hex, as authority list shows it'],
  [limitSchema.pattern, `must be a whole number from 1 to ${MAX_PAGE}`],
  [serialSchema.pattern, 'must be a serial number: 1 to 40 hex digits'],
  [tokenIdSchema.pattern, 'must be a join token id: 16 lowercase hex digits, as token list shows it'],
  [eventHashSchema.pattern, 'must be an audit event hash: 64 lowercase hex digits, as audit verify prints it after the sequence number'],
]);

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
