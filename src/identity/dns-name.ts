import { domainToASCII } from 'node:url';
import { InvalidInputError } from '../errors.js';
import { quotedText } from '../quoted-text.js';

/** A DNS name for a subjectAltName, lowercased; a leading "*." wildcard label is allowed. */
export type DnsName = string & { readonly __brand: 'DnsName' };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ASCII = /^[\x00-\x7f]*$/;
/** A last label URL parsers (WHATWG) read as a number, making the whole name an IPv4 address: decimal, or 0x hex. */
const NUMERIC = /^([0-9]+|0x[0-9a-f]*)$/;
const SYNTAX = 'labels of a-z, 0-9 and inner hyphens, at most 253 characters, optional leading "*."; an internationalised name in its xn-- form';

/**
 * A hostname as RFC 1123 and the CA/Browser Forum have it. A last label that
 * is a number reads as an IPv4 address, which verifiers never match against
 * a DNS name; a wildcard stands for one label under a name of at least two.
 */
export function parseDnsName(input: string): DnsName {
  // Lowercased only once known to be ASCII: toLowerCase maps some other letters to ASCII ones (the Kelvin sign to "k").
  const name = ASCII.test(input) ? input.toLowerCase() : undefined;
  const labels = name?.split('.') ?? [];
  const wildcard = labels[0] === '*';
  const body = wildcard ? labels.slice(1) : labels;
  if (name === undefined || name.length > 253 || body.length === 0 || !body.every((l) => LABEL.test(l))) refuse(input, SYNTAX);
  if (NUMERIC.test(body[body.length - 1]!)) refuse(input, 'its last label is a number, so it reads as an IP address, which no verifier matches against a DNS name');
  if (wildcard && body.length < 2) refuse(input, 'a wildcard must stand for a label under a name of at least two');
  // An A-label must decode (IDNA): "xn--a" is no name at all, and verifiers that decode it would match nothing.
  const hostname = body.join('.');
  if (body.some((l) => l.startsWith('xn--')) && domainToASCII(hostname) !== hostname) refuse(input, 'an xn-- label that is not valid punycode');
  return name as DnsName;
}

function refuse(input: string, why: string): never {
  throw new InvalidInputError('invalid_dns_name', `${quotedText(input.slice(0, 80))} is not a DNS name (${why})`);
}
