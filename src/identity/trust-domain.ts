import { InvalidInputError } from '../errors.js';
import { SpiffeIdProblem } from './errors.js';
import { quotedText } from '../quoted-text.js';

const MAX_TRUST_DOMAIN_BYTES = 255;

/** True for the bytes a trust domain name may hold: [a-z0-9._-]. */
export function isTrustDomainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x2d;
}

/** Returns the rule the name breaks, or undefined when it is a valid trust domain name. */
export function trustDomainProblem(name: string): string | undefined {
  if (name.length === 0) return SpiffeIdProblem.missingTrustDomain;
  if (name.length > MAX_TRUST_DOMAIN_BYTES) return SpiffeIdProblem.trustDomainTooLong;
  for (let i = 0; i < name.length; i++) {
    if (!isTrustDomainChar(name.charCodeAt(i))) return SpiffeIdProblem.badTrustDomainChar;
  }
  return undefined;
}

/** A SPIFFE trust domain, e.g. "example.org". Only `parse` makes one, so every instance is valid. */
export class TrustDomain {
  private constructor(readonly name: string) {}

  static parse(name: string): TrustDomain {
    const problem = trustDomainProblem(name);
    if (problem) throw new InvalidInputError('invalid_spiffe_id', `trust domain ${quotedText(name)} ${problem}`);
    return new TrustDomain(name);
  }

  /** The trust domain's own SPIFFE ID, "spiffe://<name>", used as the URI SAN of signing certificates. */
  idString(): string {
    return `spiffe://${this.name}`;
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }
}
