/**
 * Whether a CA certificate may sign CRLs, read from its keyUsage as OpenSSL
 * reads it (RFC 5280 4.2.1.3): no keyUsage allows it; otherwise cRLSign must
 * be asserted, and bits the BIT STRING marks as unused count as clear
 * whatever they hold.
 */
import { describe, expect, it } from 'vitest';
import { bool, children, octets, oid, parseDer, readOid, seq } from '../../src/x509/asn1.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { signCertificate } from '../../src/x509/certificate.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { OID } from '../../src/x509/oids.js';
import { caTemplate } from '../../src/x509/profiles.js';
import { randomSerial } from '../../src/x509/serial.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';

/** A self-signed CA certificate whose keyUsage value is the DER given in hex, or which has none. */
async function caWithKeyUsage(keyUsageHex: string | undefined) {
  const keys = await generateKeyPair('ec-p256');
  const now = Math.floor(Date.now() / 1000);
  const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const template = caTemplate({ serial: randomSerial(cryptoRandom), trustDomainId: 'spiffe://example.org', role: 'root', spki, notBefore: now - 60, notAfter: now + 3600 });
  const extensions = template.extensions.flatMap((e) => {
    if (readOid(children(e)[0]) !== OID.keyUsage) return [e];
    return keyUsageHex === undefined ? [] : [seq([oid(OID.keyUsage), bool(true), octets(Buffer.from(keyUsageHex, 'hex'))])];
  });
  return readCertificate(await signCertificate({ ...template, extensions }, new KeyObjectSigner(keys.privateKey)));
}

describe('signsCrls', () => {
  it.each<[string, string | undefined, boolean]>([
    ['no keyUsage at all', undefined, true],
    ['keyCertSign and cRLSign (03 02 01 06)', '03020106', true],
    ['cRLSign alone (03 02 01 02)', '03020102', true],
    ['keyCertSign alone (03 02 02 04)', '03020204', false],
    ['cRLSign set in a bit marked unused (03 02 02 06)', '03020206', false],
    ['no named bit at all (03 01 00)', '030100', false],
    ['not DER: a BIT STRING in the long length form (03 81 02 01 06)', '0381020106', false],
  ])('%s: %s', async (_name, keyUsageHex, signsCrls) => {
    expect((await caWithKeyUsage(keyUsageHex)).signsCrls).toBe(signsCrls);
  });
});
