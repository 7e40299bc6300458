/** Keys and certificates the agent holds: making a key and CSR, and reading back what the CA issued. */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createCsr } from '../x509/csr-builder.js';
import { generateKeyPair, type KeyType } from '../x509/keys.js';

export interface HeldCertificate {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
  readonly spiffeId: string;
  /** The leaf's DNS names, as the CA copied them from the registration entry. */
  readonly dnsNames: readonly string[];
  readonly serial: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export async function newKeyWithCsr(type: KeyType): Promise<{ keyPem: string; csr: string }> {
  const keys = await generateKeyPair(type);
  return {
    keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    csr: await createCsr(keys.privateKey, keys.publicKey),
  };
}

/**
 * Reads a key and chain into a HeldCertificate, or undefined when they do not
 * belong together or cannot be read (a state directory left half-written).
 */
export function holdCertificate(keyPem: string, chainPem: string): HeldCertificate | undefined {
  try {
    const leaf = new X509Certificate(chainPem);
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    if (!fromKey.equals(leaf.publicKey.export({ type: 'spki', format: 'der' }))) return undefined;
    const names = (leaf.subjectAltName ?? '').split(', ');
    const uri = names.find((n) => n.startsWith('URI:'));
    return {
      keyPem,
      chainPem,
      spiffeId: uri?.slice(4) ?? '',
      dnsNames: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
      serial: leaf.serialNumber.toLowerCase(),
      notBeforeMs: Date.parse(leaf.validFrom),
      notAfterMs: Date.parse(leaf.validTo),
    };
  } catch {
    return undefined;
  }
}
