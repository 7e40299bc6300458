/**
 * What OpenSSL's TLS asks of every key in a peer's chain at security level 2
 * (112 bits), the default of Debian's and Ubuntu's OpenSSL, under nginx,
 * HAProxy and curl there: a CA key below it fails every chain through it,
 * the trust anchor's too ("CA certificate key too weak"). `openssl verify`
 * checks it only with -auth_level 2, which is why a plain verify passes a
 * chain a proxy then refuses. Go's verifier takes RSA keys from 1024 bits,
 * and the curves it reads (go-ca-form.ts) are all of 112 bits or more, so an
 * RSA modulus is what is left to check.
 */
import { Asn1ParseError, children, parseDer, readBitStringBytes, readOid, Tag, valueBytes, type Asn1 } from './asn1.js';
import type { CertificateFacts } from './certificate-reader.js';
import { OID } from './oids.js';

/** 112 bits of security, as OpenSSL rates RSA moduli (SP 800-57). */
const LEVEL_2_RSA_BITS = 2048;

/** Why TLS peers at security level 2 refuse every chain through this CA, or undefined. */
export function securityLevelProblem(facts: Pick<CertificateFacts, 'spki'>): string | undefined {
  const [algorithm, key] = children(facts.spki);
  if (readOid(children(algorithm!)[0]) !== OID.rsaEncryption) return undefined;
  const bits = rsaModulusBits(key!);
  if (bits === undefined || bits >= LEVEL_2_RSA_BITS) return undefined;
  return `has an RSA key of ${bits} bits, and OpenSSL's TLS at security level 2, the default on Debian and Ubuntu (under nginx, HAProxy and curl), refuses every chain through a CA key below ${LEVEL_2_RSA_BITS} bits ("CA certificate key too weak")`;
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1), in the SPKI's BIT STRING. */
function rsaModulusBits(subjectPublicKey: Asn1): number | undefined {
  try {
    const [modulus] = children(parseDer(readBitStringBytes(subjectPublicKey)));
    if (!modulus || modulus.type !== Tag.INTEGER) return undefined;
    const bytes = valueBytes(modulus);
    const start = bytes.findIndex((b) => b !== 0);
    return start < 0 ? 0 : (bytes.length - start) * 8 - Math.clz32(bytes[start]!) + 24;
  } catch (err) {
    // A key no parser reads is refused elsewhere (its certificate does not load); here it is not a weak RSA key.
    if (err instanceof Asn1ParseError) return undefined;
    throw err;
  }
}
