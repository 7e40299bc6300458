/**
 * Certificate signing requests (PKCS#10) from untrusted callers. The checks
 * run in a fixed order, each failure with its own code: size, PEM, DER
 * structure, the public key's encoding (it must be the key's canonical DER,
 * because the certificate copies it), key policy, the signature algorithm,
 * proof of possession (the signature), and finally whether it asks to be a
 * CA. Key policy comes before the signature because some keys make a
 * signature prove nothing (an RSA exponent of 1) or cost far more to verify
 * than any key meshca certifies (a huge exponent). What the CSR says about
 * names is ignored: the CA decides the identity.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import {
  Asn1ParseError, Tag, TagClass, children, is, parseDer, readBitStringBytes, readOid, toDer, valueBytes, type Asn1,
} from './asn1.js';
import { decodeSinglePem, PemError } from './pem.js';
import { classifyPublicKey, loadPublicKey, NoncanonicalKeyError, UnsupportedKeyError, type PublicKeyKind } from './keys.js';
import { OID } from './oids.js';
import { fitsKey, signatureAlgorithmByOid, type SignatureAlgorithm } from './signature-algorithms.js';
import { verifyAsync, verifySync } from './signer.js';
import { readExtensions } from './extensions.js';

/** Largest CSR accepted, as PEM text: an RSA-8192 CSR is about 2.5 KiB. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

/** What a verified CSR contributes to a certificate: plain data, so it can cross to and from a signing worker. */
export interface VerifiedCsrData {
  /**
   * The SubjectPublicKeyInfo exactly as received, to be copied into the
   * certificate; it is the key's canonical DER, the same bytes node:crypto
   * exports from the certificate's key when a client authenticates.
   */
  readonly spkiDer: Buffer;
  readonly keyKind: PublicKeyKind;
  /** Hex SHA-256 of spkiDer, recorded with every issuance and matched on every authentication. */
  readonly publicKeySha256: string;
}

/** A CSR whose signature was verified with the key it carries, and whose key meshca accepts. */
export class VerifiedCsr implements VerifiedCsrData {
  private constructor(
    readonly spkiDer: Buffer,
    readonly keyKind: PublicKeyKind,
    readonly publicKeySha256: string,
  ) {}

  /** Checks a CSR, verifying its signature on libuv's thread pool. */
  static async parse(pem: string): Promise<VerifiedCsr> {
    const checked = examine(pem);
    let valid = false;
    try {
      valid = checked.familyMatches && (await verifyAsync(checked.algorithm, checked.parts.signedBytes, checked.publicKey, checked.parts.signature));
    } catch {
      valid = false;
    }
    return VerifiedCsr.fromVerified(finish(checked, valid));
  }

  /** The same checks with a synchronous signature check, for a signing worker that is itself off the main thread. */
  static parseSync(pem: string): VerifiedCsr {
    const checked = examine(pem);
    let valid = false;
    try {
      valid = checked.familyMatches && verifySync(checked.algorithm, checked.parts.signedBytes, checked.publicKey, checked.parts.signature);
    } catch {
      valid = false;
    }
    return VerifiedCsr.fromVerified(finish(checked, valid));
  }

  /**
   * A CSR from what `parse` or `parseSync` verified, here or in a signing
   * worker of this process. Never call it on data from outside the process.
   */
  static fromVerified(data: VerifiedCsrData): VerifiedCsr {
    return new VerifiedCsr(data.spkiDer, data.keyKind, data.publicKeySha256);
  }
}

interface Examined {
  readonly parts: CsrParts;
  readonly spkiDer: Buffer;
  readonly algorithm: SignatureAlgorithm;
  readonly publicKey: KeyObject;
  readonly keyKind: PublicKeyKind;
  /** node:crypto verifies with whatever the key is; a label that names another algorithm family must not pass. */
  readonly familyMatches: boolean;
}

/** Size, PEM, DER structure, the key's encoding, key policy and the signature algorithm, in that order: everything before the signature check. */
function examine(pem: string): Examined {
  if (Buffer.byteLength(pem, 'utf8') > MAX_CSR_PEM_BYTES) invalid('invalid_csr', `CSR is larger than ${MAX_CSR_PEM_BYTES} bytes`);
  let der: Buffer;
  try {
    der = decodeSinglePem(pem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']).der;
  } catch (err) {
    return invalid('invalid_csr', `CSR is not PEM: ${(err as PemError).message}`, err);
  }
  const parts = structure(der);
  const spkiDer = toDer(parts.spki);
  let publicKey: KeyObject;
  let keyKind: PublicKeyKind;
  try {
    publicKey = loadPublicKey(parts.spki, spkiDer);
    keyKind = classifyPublicKey(publicKey);
  } catch (err) {
    if (err instanceof NoncanonicalKeyError) invalid('noncanonical_public_key', `CSR public key is not in canonical DER form: ${err.message}`, err);
    if (err instanceof UnsupportedKeyError) invalid('unsupported_key', err.message, err);
    throw err;
  }
  const algorithm = signatureAlgorithmByOid(parts.signatureOid);
  if (!algorithm) return invalid('invalid_csr', `CSR signature algorithm ${parts.signatureOid} is not supported`);
  return { parts, spkiDer, algorithm, publicKey, keyKind, familyMatches: fitsKey(algorithm, publicKey) };
}

/** Proof of possession, then the CA request. */
function finish(checked: Examined, signatureValid: boolean): VerifiedCsrData {
  if (!signatureValid) invalid('csr_signature_invalid', 'CSR signature does not verify with its public key (no proof of possession)');
  if (checked.parts.asksToBeCa) invalid('csr_requests_ca', 'CSR asks for a CA certificate (basicConstraints cA or keyCertSign); SVIDs are leaves');
  return { spkiDer: checked.spkiDer, keyKind: checked.keyKind, publicKeySha256: createHash('sha256').update(checked.spkiDer).digest('hex') };
}

export interface CsrParts {
  signedBytes: Buffer;
  signatureOid: string;
  signature: Buffer;
  spki: Asn1;
  asksToBeCa: boolean;
}

function structure(der: Buffer): CsrParts {
  try {
    const root = parseDer(der);
    const [info, sigAlg, sig, ...extra] = is(root, TagClass.UNIVERSAL, Tag.SEQUENCE) ? children(root) : [];
    if (!is(info, TagClass.UNIVERSAL, Tag.SEQUENCE) || !is(sigAlg, TagClass.UNIVERSAL, Tag.SEQUENCE) || extra.length) {
      throw new Asn1ParseError('not a CertificationRequest');
    }
    const [version, subject, spki, attributes, ...surplus] = children(info);
    if (surplus.length) throw new Asn1ParseError('a CertificationRequestInfo is a version, a subject, a public key and attributes, nothing more (RFC 2986 4.1)');
    if (!is(version, TagClass.UNIVERSAL, Tag.INTEGER) || valueBytes(version).toString('hex') !== '00') {
      throw new Asn1ParseError('CSR version must be v1 (0)');
    }
    if (!is(subject, TagClass.UNIVERSAL, Tag.SEQUENCE) || !is(spki, TagClass.UNIVERSAL, Tag.SEQUENCE)) {
      throw new Asn1ParseError('CSR has no subject or public key');
    }
    checkName(subject!);
    if (!is(attributes, TagClass.CONTEXT_SPECIFIC, 0)) throw new Asn1ParseError('CSR has no attributes field');
    const [algorithm, , ...moreParameters] = children(sigAlg);
    if (moreParameters.length) throw new Asn1ParseError('the signature AlgorithmIdentifier has more than an algorithm and its parameters (RFC 5280 4.1.1.2)');
    return {
      signedBytes: toDer(info),
      signatureOid: readOid(algorithm),
      signature: readBitStringBytes(sig),
      spki,
      asksToBeCa: requestsCa(children(attributes)),
    };
  } catch (err) {
    if (err instanceof Asn1ParseError) invalid('invalid_csr', `CSR is malformed: ${err.message}`, err);
    throw err;
  }
}

/**
 * Name ::= SEQUENCE OF SET OF SEQUENCE { type OBJECT IDENTIFIER, value ANY }
 * (RFC 5280 4.1.2.4). The CA decides the identity and never reads the names,
 * but the subject is still held to its grammar, as OpenSSL holds it.
 */
function checkName(name: Asn1): void {
  const notAName = () => new Asn1ParseError('the subject is not a Name: a SEQUENCE of SETs of attributes, each a type and one value (RFC 5280 4.1.2.4)');
  for (const rdn of children(name)) {
    if (!is(rdn, TagClass.UNIVERSAL, Tag.SET)) throw notAName();
    for (const attribute of children(rdn)) {
      const [type, value, ...surplus] = is(attribute, TagClass.UNIVERSAL, Tag.SEQUENCE) ? children(attribute) : [];
      if (!is(type, TagClass.UNIVERSAL, Tag.OID) || !value || surplus.length) throw notAName();
      readOid(type);
    }
  }
}

/**
 * True when the CSR's extensionRequest asks for basicConstraints cA=true or
 * the keyCertSign usage. Every attribute is held to its grammar, a type and a
 * SET of values (RFC 2986 4.1), as OpenSSL holds them; only extensionRequest's
 * values are read.
 */
function requestsCa(attributes: Asn1[]): boolean {
  for (const attribute of attributes) {
    const [type, values, ...surplus] = is(attribute, TagClass.UNIVERSAL, Tag.SEQUENCE) ? children(attribute) : [];
    const id = readOid(type);
    const name = id === OID.extensionRequest ? 'extensionRequest' : id;
    if (!is(values, TagClass.UNIVERSAL, Tag.SET)) throw new Asn1ParseError(`the ${name} attribute has no SET of values`);
    if (surplus.length) throw new Asn1ParseError(`the ${name} attribute has more than a type and a SET of values`);
    if (id !== OID.extensionRequest) continue;
    for (const extensions of children(values!)) {
      const found = readExtensions(extensions);
      if (found.basicConstraintsCa || found.keyCertSign) return true;
    }
  }
  return false;
}

type CsrCode = 'invalid_csr' | 'noncanonical_public_key' | 'csr_signature_invalid' | 'unsupported_key' | 'csr_requests_ca';

function invalid(code: CsrCode, message: string, cause?: unknown): never {
  throw new InvalidInputError(code, message, { cause });
}
