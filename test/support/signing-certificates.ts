/**
 * CA certificates an operator might bring (roots and intermediates) with any
 * URI SANs, made in-process from meshca's own CA profile; and a key custody
 * that keeps keys in memory, for importing them without a datastore.
 */
import type { KeyObject } from 'node:crypto';
import type { KeyCustody } from '../../src/ca/ports.js';
import { children, parseDer, readOid } from '../../src/x509/asn1.js';
import { signCertificate, type CertificateTemplate } from '../../src/x509/certificate.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { basicConstraints, subjectAltName } from '../../src/x509/extensions.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { OID } from '../../src/x509/oids.js';
import { caTemplate } from '../../src/x509/profiles.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { randomSerial } from '../../src/x509/serial.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';

export interface TestCa {
  readonly der: Buffer;
  readonly keyPem: string;
  readonly privateKey: KeyObject;
}

/** The template with its subjectAltName replaced by one holding exactly `uris` (none: no SAN at all). */
function withUris(template: CertificateTemplate, uris: readonly string[]): CertificateTemplate {
  const isSan = (ext: (typeof template.extensions)[number]) => readOid(children(ext)[0]) === OID.subjectAltName;
  const others = template.extensions.filter((ext) => !isSan(ext));
  return { ...template, extensions: uris.length ? [...others, subjectAltName({ uris, dnsNames: [], ipAddresses: [] }, false)] : others };
}

/** The template with its basicConstraints replaced by cA=true with `pathLen` (undefined: no limit). */
function withPathLen(template: CertificateTemplate, pathLen: number | undefined): CertificateTemplate {
  return {
    ...template,
    extensions: template.extensions.map((ext) => (readOid(children(ext)[0]) === OID.basicConstraints ? basicConstraints(true, pathLen) : ext)),
  };
}

/**
 * A CA certificate valid from `now` - 60 s for a day, carrying `uris` as its
 * URI SANs (written as given, unchecked): self-signed without `issuer`, else
 * an intermediate signed by it (pathLen 0, as meshca makes them, unless
 * `pathLen` says otherwise: 'unlimited' for one that signs other CAs).
 */
export async function caWithUris(uris: readonly string[], now: number, issuer?: TestCa, o: { pathLen?: number | 'unlimited' } = {}): Promise<TestCa> {
  const keys = await generateKeyPair('ec-p256');
  const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const parent = issuer ? readCertificate(issuer.der) : undefined;
  const template = caTemplate({
    serial: randomSerial(cryptoRandom),
    trustDomainId: 'spiffe://placeholder.invalid',
    role: issuer ? 'intermediate' : 'root',
    spki,
    notBefore: now - 60,
    notAfter: now + 86_400,
    ...(parent ? { issuer: { subjectName: parent.subjectName, keyId: parent.keyId } } : {}),
  });
  const constrained = o.pathLen === undefined ? template : withPathLen(template, o.pathLen === 'unlimited' ? undefined : o.pathLen);
  const der = await signCertificate(withUris(constrained, uris), new KeyObjectSigner(issuer?.privateKey ?? keys.privateKey));
  return { der, keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, privateKey: keys.privateKey };
}

/** Key custody in memory: what importAuthority saves can be loaded back, nothing touches a file. */
export function memoryCustody(): KeyCustody & { readonly keys: Map<string, KeyObject> } {
  const keys = new Map<string, KeyObject>();
  return {
    keys,
    save: async (ref, key) => void keys.set(ref, key),
    load: async (ref) => {
      const key = keys.get(ref);
      if (!key) throw new Error(`no key ${ref} in memory custody`);
      return key;
    },
    describe: (ref) => `in-memory key ${ref}`,
    list: async () => [...keys.keys()],
    setAsideUnreferenced: async (referenced) => {
      const aside = [...keys.keys()].filter((ref) => !referenced.has(ref));
      for (const ref of aside) keys.delete(ref);
      return aside;
    },
    encryptAtRest: async () => [],
  };
}
