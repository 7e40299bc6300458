import { InvalidInputError } from '../errors.js';

/** A DNS name for a subjectAltName, lowercased; a leading "*." wildcard label is allowed. */
export type DnsName = string & { readonly __brand: 'DnsName' };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function parseDnsName(input: string): DnsName {
  const name = input.toLowerCase();
  const labels = name.split('.');
  const body = labels[0] === '*' ? labels.slice(1) : labels;
  if (name.length > 253 || body.length === 0 || !body.every((l) => LABEL.test(l))) {
    throw new InvalidInputError(
      'invalid_dns_name',
      `${JSON.stringify(input.slice(0, 80))} is not a DNS name (labels of a-z, 0-9 and inner hyphens, at most 253 characters, optional leading "*.")`,
    );
  }
  return name as DnsName;
}
