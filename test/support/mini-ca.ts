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
    private readonly root: CertificateFacts,
    private readonly signer: KeyObjectSigner,
  ) {}

  static async create(clock: Clock = { nowMs: () => Date.now() }, trustDomain = 'example.org'): Promise<MiniCa> {
    const now = Math.floor(clock.nowMs() / 1000);
    const keys = await generateKeyPair('ec-p256');
    const signer = new KeyObjectSigner(keys.privateKey);
    const der = await signCertificate(
      caTemplate({
        serial: randomSerial(cryptoRandom),
        trustDomainId: `spiffe://${trustDomain}`,
        role: 'root',
        spki: parseDer(keys.publicKey.export({ type: 'spki', format: 'der' })),
        notBefore: now - 3600,
        notAfter: now + 30 * 86400,
      }),
      signer,
    );
    return new MiniCa(clock, readCertificate(der), signer);
  }

  get bundlePem(): string {
    return certificatesToPem([this.root.der]);
  }

  /** Signs the CSR's key for `spiffeId`, valid from 30 s ago (or `notBeforeDelay` seconds ahead) for `ttlSeconds`, directly under the root. */
  async issue(csrPem: string, spiffeId: string, ttlSeconds: number, notBeforeDelay?: number): Promise<MiniSvid> {
    const csr = await VerifiedCsr.parse(csrPem);
    const now = Math.floor(this.clock.nowMs() / 1000) + (notBeforeDelay === undefined ? 0 : notBeforeDelay + 30);
    const serial = randomSerial(cryptoRandom);
    const der = await signSvid(
      {
        serial,
        spiffeId,
        dnsNames: [],
        ipAddresses: [],
        spkiDer: csr.spkiDer,
        keyKind: csr.keyKind,
        notBefore: now - 30,
        notAfter: now + ttlSeconds,
        issuer: { subjectName: this.root.subjectName, keyId: this.root.keyId },
      },
      this.signer,
    );
    return { chainPem: certificatesToPem([der]), serial: serial.toString('hex'), notBefore: now - 30, notAfter: now + ttlSeconds };
  }

  /** A CRL from the root, PEM, listing `revokedSerials` (lowercase hex), issued now and valid a day. */
  async crlPem(revokedSerials: readonly string[], crlNumber = 1): Promise<string> {
    const now = Math.floor(this.clock.nowMs() / 1000);
    const der = await signCrl(
      {
        issuerName: this.root.subjectName,
        issuerKeyId: this.root.keyId,
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
