/** Join tokens: 256 random bits, shown once, stored only as a SHA-256 hash. */
import { createHash } from 'node:crypto';
import type { RandomSource } from '../random/random-source.js';

const PREFIX = 'mcjt_';

export function newJoinToken(random: RandomSource): string {
  return `${PREFIX}${random.bytes(32).toString('base64url')}`;
}

export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A cheap shape check so obviously wrong input is refused without a datastore lookup. */
export function looksLikeJoinToken(token: string): boolean {
  return token.startsWith(PREFIX) && token.length === PREFIX.length + 43;
}
