/**
 * The X509-SVID profile of profiles.ts, encoded for the issuance hot path:
 * what depends only on the issuer and the key's family (names, algorithm,
 * most extensions) is encoded once per issuer, and each leaf encodes only its
 * serial, validity, key identifier and names, spliced in as DER. Encoding a
 * whole template with node-forge cost about twice the ECDSA signature itself.
 * A test holds the result byte for byte equal to node-forge encoding the
 * whole certificate from the same profile.
 */
import { derElement, explicit, Identifier, parseDer, seq, smallInt, time, toDer, unsignedInt } from './asn1.js';
import type { PublicKeyKind } from './keys.js';
import { LEAF_SUBJECT, svidExtensions, type IssuerRef, type SvidFacts } from './profiles.js';
import { algorithmIdentifier, type SignatureAlgorithm } from './signature-algorithms.js';
import type { Signer } from './signer.js';

export type LeafFacts = Omit<SvidFacts, 'issuer'>;

const VERSION_3 = toDer(explicit(0, smallInt(2)));

export class SvidEncoder {
  private readonly algorithm: Buffer;
  /** algorithm, issuer name: between the serial and the validity. */
  private readonly issuerPart: Buffer;
  private readonly subject = toDer(LEAF_SUBJECT);
  private readonly basicConstraints = toDer(svidExtensions.basicConstraints());
  private readonly extKeyUsage = toDer(svidExtensions.extKeyUsage());
  private readonly authorityKeyIdentifier: Buffer;
  private readonly keyUsage = new Map<PublicKeyKind['family'], Buffer>();

  constructor(issuer: IssuerRef, algorithm: SignatureAlgorithm) {
    this.algorithm = toDer(algorithmIdentifier(algorithm));
    this.issuerPart = Buffer.concat([this.algorithm, toDer(issuer.subjectName)]);
    this.authorityKeyIdentifier = toDer(svidExtensions.authorityKeyIdentifier(issuer));
  }

  /** The TBSCertificate's DER, to be signed by the issuer's key with the algorithm given at construction. */
  tbs(f: LeafFacts): Buffer {
    const extensions = derElement(Identifier.SEQUENCE, [
      this.basicConstraints,
      this.keyUsageFor(f.keyKind.family),
      this.extKeyUsage,
      toDer(svidExtensions.subjectKeyIdentifier(parseDer(f.spkiDer))),
      this.authorityKeyIdentifier,
      toDer(svidExtensions.subjectAltName(f)),
    ]);
    return derElement(Identifier.SEQUENCE, [
      VERSION_3,
      toDer(unsignedInt(f.serial)),
      this.issuerPart,
      toDer(seq([time(f.notBefore), time(f.notAfter)])),
      this.subject,
      f.spkiDer,
      derElement(Identifier.CONTEXT_3, [extensions]),
    ]);
  }

  /** Encodes and signs with the issuer's signer (the algorithm given at construction). */
  async sign(f: LeafFacts, signer: Signer): Promise<Buffer> {
    const tbs = this.tbs(f);
    return this.certificate(tbs, await signer.sign(tbs));
  }

  /** The same, signing synchronously: for a signing worker, which is itself off the main thread. */
  signSync(f: LeafFacts, signer: Signer & { signSync(data: Buffer): Buffer }): Buffer {
    const tbs = this.tbs(f);
    return this.certificate(tbs, signer.signSync(tbs));
  }

  /** The certificate's DER from its TBSCertificate and the signature over it. */
  certificate(tbs: Buffer, signature: Buffer): Buffer {
    return derElement(Identifier.SEQUENCE, [tbs, this.algorithm, derElement(Identifier.BIT_STRING, [Buffer.from([0]), signature])]);
  }

  private keyUsageFor(family: PublicKeyKind['family']): Buffer {
    let der = this.keyUsage.get(family);
    if (!der) this.keyUsage.set(family, (der = toDer(svidExtensions.keyUsage(family))));
    return der;
  }
}
