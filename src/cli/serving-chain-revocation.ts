/**
 * Whether the certificate chain a CA showed the remote CLI is one that CA
 * revoked, by its own CRLs. The chain verified against the credential's
 * bundle proves only that the trust domain once vouched for the key: a
 * serving key or intermediate key that leaked, and was revoked (or tainted)
 * since, would still pass. Each certificate of the chain but the root is
 * checked against a current CRL its issuer signed. Where meshca holds the
 * issuer's key, that CRL must be among those sent, since a server holding a
 * leaked key would simply leave out the CRL that lists it: the serving
 * certificate's issuer (the CA signs with nothing else), every CA
 * certificate meshca made (named O=meshca, CN=meshca root|intermediate
 * <key id>), and the issuer of one (meshca makes intermediates only under a
 * root whose key it holds: its own, or one imported with its key, whose name
 * is the organisation's). An organisation's CA above an imported
 * intermediate publishes its CRLs elsewhere, so its CRL counts when sent and
 * is not asked for. An
 * issuer whose keyUsage does not let it sign CRLs (an intermediate imported
 * before meshca asked for cRLSign) publishes none, and what it signed is
 * taken as the chain shows it.
 */
import { X509Certificate } from 'node:crypto';
import { readCertificate } from '../x509/certificate-reader.js';
import { crlIssuedBy, readCrlContent, readSignedCrl, type CrlContent } from '../x509/crl-reader.js';
import { decodePemBlocks } from '../x509/pem.js';

/** The CRLs of `crlPem` whose signature verifies, with what they say. */
function readableCrls(crlPem: string): Array<{ signed: NonNullable<ReturnType<typeof readSignedCrl>>; content: CrlContent }> {
  const crls = [];
  for (const block of decodePemBlocks(crlPem)) {
    if (block.label !== 'X509 CRL') continue;
    const signed = readSignedCrl(block.der);
    const content = readCrlContent(block.der);
    if (signed && content) crls.push({ signed, content });
  }
  return crls;
}

/** The subject meshca gives the roots and intermediates it makes (x509/profiles.ts caTemplate), as X509Certificate writes it. */
const MESHCA_MADE = /^O=meshca\nCN=meshca (root|intermediate) [0-9a-f]{16}$/;

/**
 * How far ahead of this host's clock a CRL may have been made: the CA's host
 * may run ahead, and a CRL made just after a revocation would otherwise be
 * refused for as long. A CRL made early revokes no less.
 */
export const CLOCK_ALLOWANCE_SECONDS = 300;

const isCurrent = (crl: CrlContent, nowSeconds: number) =>
  crl.thisUpdate <= nowSeconds + CLOCK_ALLOWANCE_SECONDS && (crl.nextUpdate === undefined || crl.nextUpdate >= nowSeconds);

/**
 * Why the chain (leaf first, ending with the root it was verified to) must
 * not be trusted, or undefined: a certificate its issuer's current CRL
 * lists, or an issuer whose key meshca holds and whose current CRL is not
 * among `crlPem`'s.
 */
export function servingChainProblem(chain: readonly X509Certificate[], crlPem: string, nowSeconds: number): string | undefined {
  const crls = readableCrls(crlPem);
  for (let i = 0; i + 1 < chain.length; i++) {
    const certificate = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!readCertificate(Buffer.from(issuer.raw)).signsCrls) continue;
    const current = crls.filter((crl) => isCurrent(crl.content, nowSeconds) && crlIssuedBy(crl.signed, issuer));
    if (current.length === 0) {
      if (i > 0 && !MESHCA_MADE.test(issuer.subject) && !MESHCA_MADE.test(certificate.subject)) continue;
      return `it sent no current CRL signed by ${issuer.subject.replace(/\n/g, ', ')}, so its certificate chain cannot be checked for revocation`;
    }
    // Any of them: an older list sent beside a newer one must not hide what the newer revokes.
    // As the CRL reader gives serials (crl-reader.ts serialText).
    const serial = certificate.serialNumber.toLowerCase();
    if (current.some((crl) => crl.content.serials.includes(serial))) {
      return `its certificate chain holds serial ${serial} (${certificate.subject.replace(/\n/g, ', ')}), which the CA revoked`;
    }
  }
  return undefined;
}
