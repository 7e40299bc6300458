import { InvalidInputError } from '../errors.js';
import { quotedText } from '../quoted-text.js';

/** Why a string is not a SPIFFE ID; one constant per rule of the SPIFFE-ID specification. */
export const SpiffeIdProblem = {
  empty: 'is empty',
  tooLong: 'is longer than 2048 bytes',
  wrongScheme: 'must start with the lowercase scheme "spiffe://"',
  missingTrustDomain: 'has no trust domain',
  trustDomainTooLong: 'has a trust domain longer than 255 bytes',
  badTrustDomainChar: 'has a trust domain character outside [a-z0-9._-] (no uppercase, port, userinfo or percent-encoding)',
  emptySegment: 'has an empty path segment (double or trailing slash)',
  dotSegment: 'has a "." or ".." path segment',
  badPathChar: 'has a path character outside [A-Za-z0-9._-] (no percent-encoding, query or fragment)',
  noPath: 'has no path; a workload identity needs one (spiffe://trust-domain/path)',
} as const;

export class InvalidSpiffeIdError extends InvalidInputError {
  constructor(readonly input: string, readonly problem: string) {
    super('invalid_spiffe_id', `SPIFFE ID ${quotedText(truncate(input))} ${problem}`);
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
