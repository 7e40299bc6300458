/**
 * A throwaway CA built from meshca's x509 functions, on a clock of the test's
 * choosing: for foreign-CA callers and for faking the CA an agent talks to.
 */
import { parseDer } from '../../src/x509/asn1.js';
import { readCertificate, type CertificateFacts } from '../../src/x509/certificate-reader.js';
import { signCertificate } from '../../src/x509/certificate.js';
import { signCrl } from '../../src/x509/crl.js';
import { VerifiedCsr } from '../../src/x509/csr.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { certificatesToPem, encodePem } from '../../src/x509/pem.js';
import { caTemplate } from '../../src/x509/profiles.js';
import { randomSerial } from '../../src/x509/serial.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import type { Clock } from '../../src/time/clock.js';
import { signSvid } from './sign-svid.js';

export interface MiniSvid {
  readonly chainPem: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

export class MiniCa {
  private constructor(
    private readonly clock: Clock,
    /** This CA's own certificate: the root, or an intermediate made by subordinate(). */
    private readonly own: CertificateFacts,
    private readonly signer: KeyObjectSigner,
    private readonly root: CertificateFacts,
  ) {}

  static async create(clock: Clock = { nowMs: () => Date.now() }, trustDomain = 'example.org'): Promise<MiniCa> {
    const { facts, signer } = await MiniCa.caCertificate(clock, trustDomain, 'root');
    return new MiniCa(clock, facts, signer, facts);
  }

  /** An intermediate CA under this one, with the same root (in its bundle). */
  async subordinate(trustDomain = 'example.org'): Promise<MiniCa> {
    const { facts, signer } = await MiniCa.caCertificate(this.clock, trustDomain, 'intermediate', this);
    return new MiniCa(this.clock, facts, signer, this.root);
  }

  private static async caCertificate(clock: Clock, trustDomain: string, role: 'root' | 'intermediate', issuer?: MiniCa) {
    const now = Math.floor(clock.nowMs() / 1000);
    const keys = await generateKeyPair('ec-p256');
    const signer = new KeyObjectSigner(keys.privateKey);
    const der = await signCertificate(
      caTemplate({
        serial: randomSerial(cryptoRandom),
        trustDomainId: `spiffe://${trustDomain}`,
        role,
        spki: parseDer(keys.publicKey.export({ type: 'spki', format: 'der' })),
        notBefore: now - 3600,
        notAfter: now + 30 * 86400,
        ...(issuer ? { issuer: { subjectName: issuer.own.subjectName, keyId: issuer.own.keyId } } : {}),
      }),
      issuer?.signer ?? signer,
    );
    return { facts: readCertificate(der), signer };
  }

  get bundlePem(): string {
    return certificatesToPem([this.root.der]);
  }

  /** This CA's own certificate, PEM. */
  get certificatePem(): string {
    return certificatesToPem([this.own.der]);
  }

  /**
   * Signs the CSR's key for `spiffeId`, valid from 30 s ago (or `notBeforeDelay` seconds ahead) for `ttlSeconds`, by this CA
   * (the chain holds it unless it is the root); `names.ipv4` addresses join the SPIFFE ID among its names, for a TLS server
   * dialled by address, and so do `names.dns` (a registration entry's DNS names).
   */
  async issue(csrPem: string, spiffeId: string, ttlSeconds: number, notBeforeDelay?: number, names: { ipv4?: readonly string[]; dns?: readonly string[] } = {}): Promise<MiniSvid> {
    const csr = await VerifiedCsr.parse(csrPem);
    const now = Math.floor(this.clock.nowMs() / 1000) + (notBeforeDelay === undefined ? 0 : notBeforeDelay + 30);
    const serial = randomSerial(cryptoRandom);
    const der = await signSvid(
      {
        serial,
        spiffeId,
        dnsNames: names.dns ?? [],
        ipAddresses: (names.ipv4 ?? []).map((ip) => Buffer.from(ip.split('.').map(Number))),
        spkiDer: csr.spkiDer,
        keyKind: csr.keyKind,
        notBefore: now - 30,
        notAfter: now + ttlSeconds,
        issuer: { subjectName: this.own.subjectName, keyId: this.own.keyId },
      },
      this.signer,
    );
    return { chainPem: certificatesToPem(this.own === this.root ? [der] : [der, this.own.der]), serial: serial.toString('hex'), notBefore: now - 30, notAfter: now + ttlSeconds };
  }

  /**
   * A look-alike of this intermediate's certificate, PEM: the same subject,
   * key and key identifier, named as issued by its root, but with another
   * serial, expired a day ago, and signed with this CA's own key rather than
   * the root's. Sent before the real one, TLS verification passes over it
   * (it prefers an issuer valid now), while a chain followed by name alone
   * (Node's getPeerCertificate(true)) shows it in the real one's place.
   */
  async lookAlikePem(): Promise<string> {
    const now = Math.floor(this.clock.nowMs() / 1000);
    const der = await signCertificate(
      caTemplate({
        serial: randomSerial(cryptoRandom),
        trustDomainId: this.own.uris[0]!,
        role: 'intermediate',
        spki: this.own.spki,
        notBefore: now - 2 * 86400,
        notAfter: now - 86400,
        issuer: { subjectName: this.root.subjectName, keyId: this.root.keyId },
      }),
      this.signer,
    );
    return certificatesToPem([der]);
  }

  /** A CRL from this CA, PEM, listing `revokedSerials` (lowercase hex), issued now and valid a day. */
  crlPem(revokedSerials: readonly string[], crlNumber = 1): Promise<string> {
    return this.crlIn(this.own, revokedSerials, crlNumber);
  }

  /** A forgery: a CRL in `named`'s name (issuer and key identifier), signed with this CA's key. */
  crlPemAs(named: MiniCa, revokedSerials: readonly string[]): Promise<string> {
    return this.crlIn(named.own, revokedSerials, 1);
  }

  private async crlIn(name: CertificateFacts, revokedSerials: readonly string[], crlNumber: number): Promise<string> {
    const now = Math.floor(this.clock.nowMs() / 1000);
    const der = await signCrl(
      {
        issuerName: name.subjectName,
        issuerKeyId: name.keyId,
        thisUpdate: now,
        nextUpdate: now + 86400,
        crlNumber,
        revoked: revokedSerials.map((serial) => ({ serial, revokedAt: now, reason: 'unspecified' as const })),
      },
      this.signer,
    );
    return encodePem('X509 CRL', der);
  }
}
