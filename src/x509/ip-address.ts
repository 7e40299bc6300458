/**
 * IP addresses for iPAddress subjectAltNames: RFC 5280 4.2.1.6 wants exactly
 * 4 octets for IPv4 and 16 for IPv6, so the text is parsed once, strictly, by
 * the RFC 4291 2.2 rules, and carried as those octets from then on.
 */

/** The longest IPv6 text there is: six 4-digit groups and a dotted IPv4 (INET6_ADDRSTRLEN - 1). */
const MAX_TEXT_LENGTH = 45;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** 0 to 255 without leading zeros: inet_aton reads "010" as octal 8, so it is refused rather than guessed. */
const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** An IPv4 or IPv6 address, valid by construction: only `parse` makes one. */
export class IpAddress {
  private constructor(
    /** As written, for messages and logs. */
    readonly text: string,
    /** 4 octets for IPv4, 16 for IPv6, as an iPAddress GeneralName carries them. */
    readonly octets: Buffer,
  ) {
    if (octets.length !== 4 && octets.length !== 16) throw new Error(`an IP address is 4 or 16 octets, not ${octets.length}`);
  }

  /** Dotted-decimal IPv4 or any RFC 4291 2.2 form of IPv6; throws an Error saying the text is neither. */
  static parse(text: string): IpAddress {
    const octets = text.length > MAX_TEXT_LENGTH ? undefined : text.includes(':') ? ipv6Octets(text) : ipv4Octets(text);
    if (!octets) throw new Error(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
    return new IpAddress(text, octets);
  }

  /** 0.0.0.0 or :: in any spelling: the wildcard a listener binds to, never a name to dial. */
  get unspecified(): boolean {
    return this.octets.every((b) => b === 0);
  }
}

/**
 * Whether text is meant as an IP address rather than a DNS name: it has a
 * colon (no DNS name does), or only digits and dots (RFC 1123 2.1: a host
 * name never takes the dotted-decimal form). A malformed address is then
 * refused, not taken for a name.
 */
export function looksLikeIpAddress(text: string): boolean {
  return text.includes(':') || /^[0-9.]+$/.test(text);
}

export const parseIpAddress = (text: string): IpAddress => IpAddress.parse(text);

function ipv4Octets(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => DECIMAL_OCTET.test(p) && Number(p) <= 255)) return undefined;
  return Buffer.from(parts.map(Number));
}

/**
 * Eight 16-bit groups of 1 to 4 hex digits; one "::" may stand for one or
 * more zero groups; the last 32 bits may be written as dotted IPv4.
 */
function ipv6Octets(text: string): Buffer | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const compressed = halves.length === 2;
  const head = words(halves[0]!, !compressed);
  const tail = compressed ? words(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const zeros = 8 - head.length - tail.length;
  if (compressed ? zeros < 1 : zeros !== 0) return undefined;
  const octets = Buffer.alloc(16);
  [...head, ...new Array<number>(zeros).fill(0), ...tail].forEach((word, i) => octets.writeUInt16BE(word, 2 * i));
  return octets;
}

/** The 16-bit words of colon-separated groups ("" has none); a dotted IPv4 counts as two, and only where the address ends. */
function words(groups: string, endsAddress: boolean): number[] | undefined {
  if (groups === '') return [];
  const parts = groups.split(':');
  const result: number[] = [];
  for (const [i, part] of parts.entries()) {
    const ipv4 = endsAddress && i === parts.length - 1 ? ipv4Octets(part) : undefined;
    if (ipv4) result.push(ipv4.readUInt16BE(0), ipv4.readUInt16BE(2));
    else if (HEX_GROUP.test(part)) result.push(parseInt(part, 16));
    else return undefined;
  }
  return result;
}
