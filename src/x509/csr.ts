/**
 * Certificate signing requests (PKCS#10) from untrusted callers. The checks
 * run in a fixed order, each failure with its own code: size, PEM, DER
 * structure, proof of possession (the signature), key policy, and finally
 * whether it asks to be a CA. What the CSR says about names is ignored: the
 * CA decides the identity.
 */
import type { KeyObject } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import {
  Asn1ParseError, Tag, TagClass, children, is, parseDer, readBitStringBytes, readOid, toDer, valueBytes, type Asn1,
} from './asn1.js';
import { decodeSinglePem, PemError } from './pem.js';
import { classifyPublicKey, loadPublicKey, UnsupportedKeyError, type PublicKeyKind } from './keys.js';
import { OID } from './oids.js';
import { signatureAlgorithmByOid, type KeyFamily } from './signature-algorithms.js';
import { verifyAsync } from './signer.js';
import { readExtensions } from './extensions.js';

/** Largest CSR accepted, as PEM text: an RSA-8192 CSR is about 2.5 KiB. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

/** A CSR whose signature was verified with the key it carries, and whose key meshca accepts. */
export class VerifiedCsr {
  private constructor(
    readonly publicKey: KeyObject,
    readonly keyKind: PublicKeyKind,
    /** The SubjectPublicKeyInfo exactly as received, to be copied into the certificate. */
    readonly spki: Asn1,
  ) {}

  static async parse(pem: string): Promise<VerifiedCsr> {
    if (Buffer.byteLength(pem, 'utf8') > MAX_CSR_PEM_BYTES) invalid('invalid_csr', `CSR is larger than ${MAX_CSR_PEM_BYTES} bytes`);
    let der: Buffer;
    try {
      der = decodeSinglePem(pem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']).der;
    } catch (err) {
      return invalid('invalid_csr', `CSR is not PEM: ${(err as PemError).message}`, err);
    }
    const parts = structure(der);
    const algorithm = signatureAlgorithmByOid(parts.signatureOid);
    if (!algorithm) invalid('invalid_csr', `CSR signature algorithm ${parts.signatureOid} is not supported`);

    let publicKey: KeyObject;
    try {
      publicKey = loadPublicKey(parts.spki, toDer(parts.spki));
    } catch (err) {
      return invalid('unsupported_key', (err as Error).message, err);
    }
    // node:crypto verifies with whatever the key is; a label that names another algorithm family must not pass.
    let signatureValid = familyOf(publicKey) === algorithm.keyFamily;
    try {
      if (signatureValid) signatureValid = await verifyAsync(algorithm, parts.signedBytes, publicKey, parts.signature);
    } catch {
      signatureValid = false;
    }
    if (!signatureValid) invalid('csr_signature_invalid', 'CSR signature does not verify with its public key (no proof of possession)');

    let keyKind: PublicKeyKind;
    try {
      keyKind = classifyPublicKey(publicKey);
    } catch (err) {
      if (err instanceof UnsupportedKeyError) invalid('unsupported_key', err.message, err);
      throw err;
    }
    if (parts.asksToBeCa) invalid('csr_requests_ca', 'CSR asks for a CA certificate (basicConstraints cA or keyCertSign); SVIDs are leaves');
    return new VerifiedCsr(publicKey, keyKind, parts.spki);
  }
}

function familyOf(key: KeyObject): KeyFamily | undefined {
  const type = key.asymmetricKeyType;
  return type === 'ec' || type === 'rsa' || type === 'ed25519' ? type : undefined;
}

interface CsrParts {
  signedBytes: Buffer;
  signatureOid: string;
  signature: Buffer;
  spki: Asn1;
  asksToBeCa: boolean;
}

function structure(der: Buffer): CsrParts {
  try {
    const root = parseDer(der);
    const [info, sigAlg, sig, ...extra] = children(root);
    if (!is(info, TagClass.UNIVERSAL, Tag.SEQUENCE) || !is(sigAlg, TagClass.UNIVERSAL, Tag.SEQUENCE) || extra.length) {
      throw new Asn1ParseError('not a CertificationRequest');
    }
    const [version, subject, spki, attributes] = children(info);
    if (!is(version, TagClass.UNIVERSAL, Tag.INTEGER) || valueBytes(version).toString('hex') !== '00') {
      throw new Asn1ParseError('CSR version must be v1 (0)');
    }
    if (!is(subject, TagClass.UNIVERSAL, Tag.SEQUENCE) || !is(spki, TagClass.UNIVERSAL, Tag.SEQUENCE)) {
      throw new Asn1ParseError('CSR has no subject or public key');
    }
    if (!is(attributes, TagClass.CONTEXT_SPECIFIC, 0)) throw new Asn1ParseError('CSR has no attributes field');
    return {
      signedBytes: toDer(info),
      signatureOid: readOid(children(sigAlg)[0]),
      signature: readBitStringBytes(sig),
      spki,
      asksToBeCa: requestsCa(children(attributes)),
    };
  } catch (err) {
    if (err instanceof Asn1ParseError) invalid('invalid_csr', `CSR is malformed: ${err.message}`, err);
    throw err;
  }
}

/** True when the CSR's extensionRequest asks for basicConstraints cA=true or the keyCertSign usage. */
function requestsCa(attributes: Asn1[]): boolean {
  for (const attribute of attributes) {
    const [type, values] = children(attribute);
    if (readOid(type) !== OID.extensionRequest) continue;
    for (const extensions of children(values!)) {
      const found = readExtensions(extensions);
      if (found.basicConstraintsCa || found.keyCertSign) return true;
    }
  }
  return false;
}

function invalid(code: 'invalid_csr' | 'csr_signature_invalid' | 'unsupported_key' | 'csr_requests_ca', message: string, cause?: unknown): never {
  throw new InvalidInputError(code, message, { cause });
}
