/**
 * Certificates openssl's command line will not make: one it made, changed in
 * a TBSCertificate field and signed again (ECDSA with SHA-256) with the key
 * that signed it, so it still links to its issuer by name, key identifier
 * and signature.
 */
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { bitString, children, derElement, explicit, Identifier, oid, parseDer, seq, smallInt, toDer, type Asn1 } from '../../src/x509/asn1.js';
import { certificatesToPem } from '../../src/x509/pem.js';
import type { KeyPairFiles } from './openssl-pki.js';

const ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';

export type TbsChange =
  /** version v2 (RFC 5280 4.1.2.1), extensions kept. */
  | 'version 2'
  /** The TBSCertificate's signature field names ECDSA with SHA-384, the signatureAlgorithm outside it still SHA-256. */
  | 'inner signature algorithm'
  /** Both validity times as UTCTime without their seconds (YYMMDDHHMMZ), which BER allows and DER does not (RFC 5280 4.1.2.5.1). */
  | 'validity without seconds'
  /** Its first extension given twice, which RFC 5280 4.2 forbids. */
  | 'an extension twice';

/** A UTCTime's YYMMDDHHMMSSZ without its SS. */
const withoutSeconds = (time: Asn1): Asn1 => ({ ...time, value: `${(time.value as string).slice(0, 10)}Z` });

/** The extensions field ([3] EXPLICIT Extensions) with its first extension repeated after the others. */
function withFirstExtensionTwice(field: Asn1): Asn1 {
  const extensions = children(children(field)[0]!);
  return explicit(3, seq([...extensions, extensions[0]!]));
}

/** `cert` (a v3 certificate) with `change`, signed by `signerKey` and written as OUT; the key file stays `cert`'s. */
export function resigned(cert: KeyPairFiles, signerKey: string, change: TbsChange, out: string): KeyPairFiles {
  return resignedWith(cert, signerKey, (fields) => {
    const [version, serial, inner, ...rest] = fields;
    const [issuer, validity, ...afterValidity] = rest;
    return change === 'version 2' ? [explicit(0, smallInt(1)), serial!, inner!, ...rest]
      : change === 'inner signature algorithm' ? [version!, serial!, seq([oid(ECDSA_WITH_SHA384)]), ...rest]
      : change === 'validity without seconds' ? [version!, serial!, inner!, issuer!, seq(children(validity!).map(withoutSeconds)), ...afterValidity]
      : [version!, serial!, inner!, ...rest.slice(0, -1), withFirstExtensionTwice(rest.at(-1)!)];
  }, out);
}

/**
 * `cert` (a v3 certificate) with its TBSCertificate's fields (version, serial,
 * signature, issuer, validity, subject, subjectPublicKeyInfo, extensions) as
 * `edit` returns them, written as OUT: any field, as any bytes; signed by
 * `signerKey` with SHA-256 (its key's own algorithm: ECDSA, RSA PKCS#1 v1.5 or Ed25519 on its own).
 */
export function resignedWith(cert: KeyPairFiles, signerKey: string, edit: (fields: Asn1[]) => Asn1[], out: string): KeyPairFiles {
  const [tbs, algorithm] = children(parseDer(new X509Certificate(readFileSync(cert.cert)).raw));
  const tbsDer = toDer(seq(edit(children(tbs!))));
  const key = createPrivateKey(readFileSync(signerKey));
  const signature = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', tbsDer, key);
  // Spliced rather than parsed again: an edit may hold what meshca's strict parser refuses.
  writeFileSync(out, certificatesToPem([derElement(Identifier.SEQUENCE, [tbsDer, toDer(algorithm!), toDer(bitString(signature))])]));
  return { cert: out, key: cert.key };
}
