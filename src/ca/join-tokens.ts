/** Join tokens: 256 random bits, shown once, stored only as a SHA-256 hash. */
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import type { RandomSource } from '../random/random-source.js';
import { quotedText } from '../quoted-text.js';

/** What every join token starts with. */
export const TOKEN_PREFIX = 'mcjt_';

export function newJoinToken(random: RandomSource): string {
  return `${TOKEN_PREFIX}${random.bytes(32).toString('base64url')}`;
}

export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** `text` with anything shaped like a join token masked: for text a caller wrote, such as a URL, before it is logged. */
export function maskJoinTokens(text: string): string {
  return text.replace(new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]*`, 'g'), `${TOKEN_PREFIX}[redacted]`);
}

/** A cheap shape check so obviously wrong input is refused without a datastore lookup. */
export function looksLikeJoinToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX) && token.length === TOKEN_PREFIX.length + 43;
}

/**
 * A token's public name: the first 16 hex digits of its hash, as its audit
 * events have always recorded it. It names the token to list and revoke it,
 * and admits no one.
 */
export type JoinTokenId = string & { readonly __brand: 'JoinTokenId' };

const ID_DIGITS = 16;

/** A token id's form, for schemas and for the CLI's checks before any request. */
export const JOIN_TOKEN_ID_PATTERN = '^[0-9a-f]{16}$';

export function joinTokenId(hash: string): JoinTokenId {
  return hash.slice(0, ID_DIGITS) as JoinTokenId;
}

export function parseJoinTokenId(input: string): JoinTokenId {
  if (!new RegExp(JOIN_TOKEN_ID_PATTERN).test(input)) {
    throw new InvalidInputError('invalid_request', `join token id ${quotedText(input.slice(0, 80))} must be the 16 lowercase hex digits token list shows`);
  }
  return input as JoinTokenId;
}

/** The greatest hash a token of this id can have: every token of the id sorts at or below it. */
export function lastHashOf(id: JoinTokenId): string {
  return id.padEnd(64, 'f');
}
