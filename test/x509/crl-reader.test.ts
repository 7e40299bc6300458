/**
 * Reading CRLs, as agents and the CLI do: what a CRL says agrees with what
 * openssl reads from it, for CRLs openssl made and for meshca's own, and one
 * that is not strict DER by RFC 5280's grammar says nothing (no serials, no
 * content, no signed part), as before the list of entries was walked in place.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { oid, parseDer, seq, smallInt, time, toDer, unsignedInt } from '../../src/x509/asn1.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { signCrl } from '../../src/x509/crl.js';
import { crlIssuedBy, readCrlContent, readSignedCrl, serialsListedInPem } from '../../src/x509/crl-reader.js';
import { OID } from '../../src/x509/oids.js';
import { decodePemBlocks, encodePem } from '../../src/x509/pem.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { normalSerial, readCrl } from '../support/crl-inspect.js';
import { MiniCa } from '../support/mini-ca.js';
import { CA_EXTENSIONS, opensslOk, selfSigned, signedCa, verify } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

const der = (pem: string) => decodePemBlocks(pem)[0]!.der;
/** A serial as the reader gives it, as agents compare it with X509Certificate's serialNumber: whole octets, leading zero octets dropped. */
const octets = (hex: string) => (normalSerial(hex).length % 2 ? `0${normalSerial(hex)}` : normalSerial(hex));

/** A CRL made by `openssl ca -gencrl` from an index listing `revoked` (uppercase hex serials as openssl keeps them). */
function opensslCrl(revoked: ReadonlyArray<{ serial: string; reason?: string }>): { pem: string; issuer: X509Certificate } {
  const dir = tempDir('ocrl');
  const ca = selfSigned(dir, 'ca');
  writeFileSync(join(dir, 'index.txt'), revoked.map((r) => `R\t491231235959Z\t251101000000Z${r.reason ? `,${r.reason}` : ''}\t${r.serial}\tunknown\t/CN=w${r.serial}\n`).join(''));
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  writeFileSync(join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', `database = ${join(dir, 'index.txt')}`, `crlnumber = ${join(dir, 'crlnumber')}`,
    'default_md = sha256', 'default_crl_days = 1', 'crl_extensions = ext', '[ext]', 'authorityKeyIdentifier = keyid:always', '',
  ].join('\n'));
  opensslOk(['ca', '-gencrl', '-batch', '-config', join(dir, 'ca.cnf'), '-keyfile', ca.key, '-cert', ca.cert, '-out', join(dir, 'crl.pem')], dir);
  const pem = opensslOk(['crl', '-in', join(dir, 'crl.pem')]);
  return { pem, issuer: new X509Certificate(opensslOk(['x509', '-in', ca.cert])) };
}

describe('a CRL is read as openssl reads it', () => {
  it.each([
    ['no entries', []],
    ['entries of one to sixteen octets, high bit set or not, with reasons or without', [
      { serial: '01' }, { serial: 'FF', reason: 'keyCompromise' }, { serial: '7F00' }, { serial: '0A1B2C3D4E5F60718293A4B5C6D7E8F9', reason: 'superseded' },
    ]],
  ])('made by openssl ca -gencrl: %s', (_name, revoked) => {
    const { pem, issuer } = opensslCrl(revoked);
    const openssl = readCrl(pem);
    const content = readCrlContent(der(pem))!;
    expect(content.serials).toEqual(openssl.serials.map(octets).sort());
    expect(openssl.serials).toHaveLength(revoked.length);
    expect([...serialsListedInPem(pem)].sort()).toEqual(content.serials);
    expect([content.thisUpdate, content.nextUpdate, content.crlNumber]).toEqual([openssl.lastUpdate, openssl.nextUpdate, BigInt(openssl.crlNumber)]);
    const signed = readSignedCrl(der(pem))!;
    expect(crlIssuedBy(signed, issuer)).toBe(true);
  });

  it("meshca's own, of 2,000 entries, with serials of every length meshca and imported CAs give", async () => {
    const ca = await MiniCa.create();
    const serials = Array.from({ length: 2000 }, (_, i) => (BigInt(i) * 0x9e3779b97f4a7c15n + 1n).toString(16));
    const pem = await ca.crlPem(serials, 7);
    const openssl = readCrl(pem);
    expect(readCrlContent(der(pem))!.serials).toEqual(openssl.serials.map(octets).sort());
    expect(new Set(openssl.serials)).toEqual(new Set(serials));
    expect(serialsListedInPem(pem)).toEqual(new Set(serials.map(octets)));
    expect(crlIssuedBy(readSignedCrl(der(pem))!, new X509Certificate(ca.certificatePem))).toBe(true);
  });
});

describe('a serial is read as agents compare it, with X509Certificate serialNumber lowercased', () => {
  it.each(['1', '255', '0', '-1', '-128', '-129', '-256'])('a certificate of serial %s, listed in a CRL, is listed as its serialNumber', async (serial) => {
    const dir = tempDir('crlserial');
    opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=serial', '-set_serial', serial]);
    const certificate = new X509Certificate(readFileSync(join(dir, 'cert.pem')));
    // version, then serialNumber, as the certificate encodes it
    const serialInteger = topChildren(topChildren(Buffer.from(certificate.raw))[0]!)[1]!;
    const [tbs, ...outer] = topChildren(der(await (await MiniCa.create()).crlPem(['0a'])));
    const fields = topChildren(tbs!);
    const entry = topChildren(topChildren(fields[5]!)[0]!);
    fields[5] = tlv(0x30, tlv(0x30, Buffer.concat([serialInteger, ...entry.slice(1)])));
    const crl = tlv(0x30, Buffer.concat([tlv(0x30, Buffer.concat(fields)), ...outer]));
    expect(readCrlContent(crl)?.serials).toEqual([certificate.serialNumber.toLowerCase()]);
    expect(serialsListedInPem(encodePem('X509 CRL', crl))).toEqual(new Set([certificate.serialNumber.toLowerCase()]));
  });
});

describe("a CRL's key identifier", () => {
  it.each([
    ["its signer's subjectKeyIdentifier", true],
    ['another key identifier', false],
  ])('naming %s: issued by its signer as far as OpenSSL, checking a certificate it signed, finds it', async (_name, same) => {
    const dir = tempDir('crlaki');
    const root = selfSigned(dir, 'root');
    const child = signedCa(dir, 'child', root);
    const rootPem = readFileSync(root.cert, 'utf8');
    const issuer = new X509Certificate(rootPem);
    const facts = readCertificate(Buffer.from(issuer.raw));
    expect(facts.subjectKeyIdentifier).toBeDefined();
    const now = Math.floor(Date.now() / 1000);
    const crl = await signCrl(
      { issuerName: facts.subjectName, issuerKeyId: same ? facts.keyId : Buffer.alloc(20, 7), thisUpdate: now - 60, nextUpdate: now + 86400, crlNumber: 1, revoked: [] },
      new KeyObjectSigner(createPrivateKey(readFileSync(root.key))),
    );
    expect(crlIssuedBy(readSignedCrl(crl)!, issuer)).toBe(same);
    // Otherwise OpenSSL finds no CRL for the issuer (unable to get certificate CRL): nginx would refuse every client it vouches for.
    const checked = verify({ trusted: rootPem, leaf: readFileSync(child.cert, 'utf8'), at: now, crls: encodePem('X509 CRL', crl), crlCheck: 'leaf' });
    expect(checked.code === 0).toBe(same);
  });

  it.each([
    ['the CA certificate it names', true],
    ['that CA certificate renewed with the same key and name under another serial', false],
  ])('naming its issuer by name and serial, made by openssl ca: issued by %s as far as OpenSSL finds', (name, same) => {
    const dir = tempDir('crlakiserial');
    const made = selfSigned(dir, 'root');
    const renewed = join(dir, 'renewed.pem');
    opensslOk(['req', '-x509', '-key', made.key, '-out', renewed, '-days', '30', '-subj', '/O=byo/CN=root', '-set_serial', '4242', ...CA_EXTENSIONS.flatMap((e) => ['-addext', e])]);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = d', '[d]', `database = ${join(dir, 'index.txt')}`, 'default_md = sha256', 'default_crl_days = 1', 'crl_extensions = ext',
      '[ext]', 'authorityKeyIdentifier = keyid,issuer:always', '',
    ].join('\n'));
    opensslOk(['ca', '-gencrl', '-batch', '-config', join(dir, 'ca.cnf'), '-keyfile', made.key, '-cert', made.cert, '-out', join(dir, 'crl.pem')], dir);
    const pem = readFileSync(join(dir, 'crl.pem'), 'utf8');
    const issuerFile = same ? made.cert : renewed;
    expect(crlIssuedBy(readSignedCrl(der(pem))!, new X509Certificate(readFileSync(issuerFile)))).toBe(same);
    const child = signedCa(dir, 'child', { cert: issuerFile, key: made.key });
    const checked = verify({ trusted: readFileSync(issuerFile, 'utf8'), leaf: readFileSync(child.cert, 'utf8'), at: Math.floor(Date.now() / 1000), crls: pem, crlCheck: 'leaf' });
    expect(checked.code === 0, `${name}: ${checked.output}`).toBe(same);
  });
});

describe("a CRL's issuer Name", () => {
  const [O, CN] = ['2.5.4.10', '2.5.4.3'];
  const [UTF8, PRINTABLE, T61, IA5, BMP, UNIVERSAL, NUMERIC] = [0x0c, 0x13, 0x14, 0x16, 0x1e, 0x1c, 0x12];
  const ucs2 = (text: string) => Buffer.from(text, 'utf16le').swap16();
  const ucs4 = (text: string) => Buffer.concat([...text].map((c) => Buffer.from([0, 0, 0, c.codePointAt(0)!])));
  /** A Name of RDNs, each a SET of [type, string tag, content] in the order given. */
  const name = (...rdns: Array<Array<[string, number, Buffer]>>) =>
    tlv(0x30, Buffer.concat(rdns.map((rdn) => tlv(0x31, Buffer.concat(rdn.map(([type, tag, value]) => tlv(0x30, Buffer.concat([toDer(oid(type)), tlv(tag, value)]))))))));
  const text = (tag: number, value: string): Buffer => (tag === BMP ? ucs2(value) : tag === UNIVERSAL ? ucs4(value) : Buffer.from(value, tag === UTF8 ? 'utf8' : 'latin1'));
  /** O and CN, each a string of `tag`. */
  const oCn = (tag: number, o: string, cn: string) => name([[O, tag, text(tag, o)]], [[CN, tag, text(tag, cn)]]);

  // The issuer's subject is /O=byo mesh/CN=root+serialNumber=7 in UTF8Strings, as openssl req makes it.
  const SERIAL = '2.5.4.5';
  /** Its second RDN as DER sorts it, serialNumber first (the shorter encoding), unless `cnFirst`. */
  const subject = (tag: number, o: string, cn: string, cnFirst = false) => {
    const rdn: Array<[string, number, Buffer]> = [[SERIAL, PRINTABLE, Buffer.from('7')], [CN, tag, text(tag, cn)]];
    return name([[O, tag, text(tag, o)]], cnFirst ? rdn.reverse() : rdn);
  };
  it.each<[string, Buffer, boolean]>([
    ['as the subject is encoded', subject(UTF8, 'byo mesh', 'root'), true],
    ['in PrintableStrings', subject(PRINTABLE, 'byo mesh', 'root'), true],
    ['in T61Strings', subject(T61, 'byo mesh', 'root'), true],
    ['in IA5Strings', subject(IA5, 'byo mesh', 'root'), true],
    ['in BMPStrings', subject(BMP, 'byo mesh', 'root'), true],
    ['in UniversalStrings', subject(UNIVERSAL, 'byo mesh', 'root'), true],
    ['in capitals, with white space around and doubled within', subject(UTF8, ' \tBYO \n  Mesh  ', 'Root '), true],
    ['with the attributes of its multi-valued RDN in another order', subject(UTF8, 'byo mesh', 'root', true), true],
    ['after an empty RDN, which OpenSSL drops', Buffer.concat([Buffer.from([0x30, subject(UTF8, 'byo mesh', 'root').length]), Buffer.from([0x31, 0x00]), subject(UTF8, 'byo mesh', 'root').subarray(2)]), true],
    ['with white space removed from within', subject(UTF8, 'byomesh', 'root'), false],
    ['by another CN', subject(UTF8, 'byo mesh', 'roots'), false],
    ['with a NumericString where the subject has a PrintableString (OpenSSL converts no NumericString)', name([[O, UTF8, text(UTF8, 'byo mesh')]], [[SERIAL, NUMERIC, Buffer.from('7')], [CN, UTF8, text(UTF8, 'root')]]), false],
    ['without its serialNumber', oCn(UTF8, 'byo mesh', 'root'), false],
    ['with its RDNs in another order', name([[SERIAL, PRINTABLE, Buffer.from('7')], [CN, UTF8, text(UTF8, 'root')]], [[O, UTF8, text(UTF8, 'byo mesh')]]), false],
  ])('naming it %s: issued by it as far as OpenSSL, checking a certificate it signed, finds it', async (_name, issuerName, same) => {
    const dir = tempDir('crlname');
    const root = selfSigned(dir, 'root', { subject: '/O=byo mesh/CN=root+serialNumber=7' });
    const child = signedCa(dir, 'child', root);
    const rootPem = readFileSync(root.cert, 'utf8');
    const issuer = new X509Certificate(rootPem);
    const facts = readCertificate(Buffer.from(issuer.raw));
    const now = Math.floor(Date.now() / 1000);
    const crl = await signCrl(
      { issuerName: parseDer(issuerName), issuerKeyId: facts.keyId, thisUpdate: now - 60, nextUpdate: now + 86400, crlNumber: 1, revoked: [] },
      new KeyObjectSigner(createPrivateKey(readFileSync(root.key))),
    );
    expect(crlIssuedBy(readSignedCrl(crl)!, issuer)).toBe(same);
    const checked = verify({ trusted: rootPem, leaf: readFileSync(child.cert, 'utf8'), at: now, crls: encodePem('X509 CRL', crl), crlCheck: 'leaf' });
    expect(checked.code === 0, checked.output).toBe(same);
  });

  it('as the subject is encoded is how openssl req encodes it (the table above starts from it)', () => {
    const dir = tempDir('crlname');
    const root = selfSigned(dir, 'root', { subject: '/O=byo mesh/CN=root+serialNumber=7' });
    const facts = readCertificate(Buffer.from(new X509Certificate(readFileSync(root.cert)).raw));
    expect(toDer(facts.subjectName)).toEqual(subject(UTF8, 'byo mesh', 'root'));
  });
});

describe('a CRL that is not strict DER, or not a CRL by RFC 5280, says nothing', () => {
  let good: Buffer;
  beforeAll(async () => {
    good = der(await (await MiniCa.create()).crlPem(['0a', '0b'], 3));
  });

  /** The CRL with its TBSCertList's fields, or its first revoked entry's, edited; every length around them re-encoded. */
  function edited(edit: (tbs: Buffer[], entry: Buffer[]) => void): Buffer {
    // A copy: the edits below write into the buffers topChildren returns.
    const [tbs, ...outer] = topChildren(Buffer.from(good));
    const fields = topChildren(tbs!);
    // version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, crlExtensions
    const listBefore = fields[5]!;
    const list = topChildren(listBefore);
    const entry = topChildren(list[0]!);
    edit(fields, entry);
    list[0] = tlv(0x30, Buffer.concat(entry));
    const at = fields.indexOf(listBefore);
    if (at >= 0) fields[at] = tlv(0x30, Buffer.concat(list));
    return tlv(0x30, Buffer.concat([tlv(0x30, Buffer.concat(fields)), ...outer]));
  }

  it.each<[string, () => Buffer]>([
    ['as made (the cases below fail for their edit alone)', () => edited(() => {})],
    ['bytes after the CRL', () => Buffer.concat([good, Buffer.from([0])])],
    ['a CRL that is a SET, not a SEQUENCE (only the TBSCertList inside is signed)', () => Buffer.concat([Buffer.from([0x31]), good.subarray(1)])],
    ['a CRL tagged [APPLICATION 16], not SEQUENCE', () => Buffer.concat([Buffer.from([0x70]), good.subarray(1)])],
    ['an entry without its revocation date', () => edited((_tbs, entry) => entry.splice(1, 1))],
    ['an entry whose serial is an OCTET STRING', () => edited((_tbs, entry) => { entry[0]![0] = 0x04; })],
    ['an entry whose serial has no octets', () => edited((_tbs, entry) => { entry[0] = Buffer.from([0x02, 0x00]); })],
    ['an entry whose serial has a leading zero octet it does not need (OpenSSL: illegal padding)', () => edited((_tbs, entry) => { entry[0] = Buffer.from([0x02, 0x02, 0x00, 0x0a]); })],
    ['an entry whose negative serial has a leading 0xff octet it does not need', () => edited((_tbs, entry) => { entry[0] = Buffer.from([0x02, 0x02, 0xff, 0x80]); })],
    ['a version with a leading zero octet it does not need', () => edited((tbs) => { tbs[0] = Buffer.from([0x02, 0x02, 0x00, 0x01]); })],
    ['an entry length in the long form where the short one fits', () => edited((_tbs, entry) => { entry[0] = Buffer.concat([Buffer.from([0x02, 0x81, entry[0]!.length - 2]), entry[0]!.subarray(2)]); })],
    ['an entry with an indefinite length', () => edited((_tbs, entry) => { entry[0] = Buffer.concat([Buffer.from([0x02, 0x80]), entry[0]!.subarray(2), Buffer.from([0, 0])]); })],
    ['an entry with a field after its extensions', () => edited((_tbs, entry) => entry.push(extensionList(reasonCode), toDer(smallInt(1))))],
    ['an entry whose extensions are a SET', () => edited((_tbs, entry) => entry.push(tlv(0x31, reasonCode)))],
    ['an entry extension whose value is not in an OCTET STRING', () => edited((_tbs, entry) => entry.push(extensionList(tlv(0x30, Buffer.concat([REASON_OID, tlv(0x0a, Buffer.from([1]))])))))],
    ['an entry extension whose critical flag is two octets', () => edited((_tbs, entry) => entry.push(extensionList(tlv(0x30, Buffer.concat([REASON_OID, tlv(0x01, Buffer.from([0xff, 0xff])), tlv(0x04, Buffer.from('0a0101', 'hex'))])))))],
    ['a CRL extension whose OBJECT IDENTIFIER has a padding octet (OpenSSL: invalid object encoding)', () => edited((tbs) => { tbs[6] = tlv(0xa0, extensionList(tlv(0x30, Buffer.concat([tlv(0x06, Buffer.from('80551d14', 'hex')), tlv(0x04, Buffer.from('020101', 'hex'))])))); })],
    ['a CRL extension OpenSSL does not handle, marked critical (OpenSSL: unhandled critical CRL extension)', () => edited((tbs) => { tbs[6] = tlv(0xa0, extensionList(...topChildren(topChildren(tbs[6]!)[0]!), critical('1.2.3.4', Buffer.from('0500', 'hex')))); })],
    ['a cRLNumber marked critical', () => edited((tbs) => { tbs[6] = tlv(0xa0, extensionList(critical(OID.cRLNumber, Buffer.from('020107', 'hex')))); })],
    ['an entry whose reason code is marked critical', () => edited((_tbs, entry) => entry.push(extensionList(critical(OID.cRLReason, Buffer.from('0a0101', 'hex')))))],
    ['a cRLNumber that is an OCTET STRING, not an INTEGER', () => edited((tbs) => { tbs[6] = tlv(0xa0, extensionList(crlNumber(Buffer.from('040107', 'hex')))); })],
    ['a cRLNumber INTEGER cut short', () => edited((tbs) => { tbs[6] = tlv(0xa0, extensionList(crlNumber(Buffer.from('020207', 'hex')))); })],
    ['a [0] holding two lists of CRL extensions', () => edited((tbs) => { tbs[6] = tlv(0xa0, Buffer.concat([topChildren(tbs[6]!)[0]!, extensionList(reasonCode)])); })],
    ['a field after the extensions', () => edited((tbs) => tbs.push(toDer(smallInt(1))))],
    ['a thisUpdate without seconds, which OpenSSL cannot compare with its clock', () => edited((tbs) => { tbs[3] = tlv(0x17, Buffer.from('2511010000Z')); })],
    ['a nextUpdate with an offset from UTC', () => edited((tbs) => { tbs[4] = tlv(0x17, Buffer.from('261101000000+0100')); })],
    ['a nextUpdate in a thirteenth month', () => edited((tbs) => { tbs[4] = tlv(0x17, Buffer.from('261301000000Z')); })],
    ['a thisUpdate as a GeneralizedTime with fractions of a second', () => edited((tbs) => { tbs[3] = tlv(0x18, Buffer.from('20251101000000.5Z')); })],
    ['no thisUpdate (nor nextUpdate)', () => edited((tbs) => tbs.splice(3, 2))],
    ['an issuer that is not a SEQUENCE', () => edited((tbs) => { tbs[2] = toDer(unsignedInt(Buffer.from([1]))); })],
    ['a revocation date that is not strict DER inside an entry', () => edited((_tbs, entry) => { entry[1] = Buffer.concat([Buffer.from([0x17, 0x81, entry[1]!.length - 2]), entry[1]!.subarray(2)]); })],
  ])('%s', (name, crl) => {
    const bytes = crl();
    const readable = name.startsWith('as made');
    expect(readCrlContent(bytes) !== undefined).toBe(readable);
    expect(readSignedCrl(bytes) !== undefined).toBe(readable);
    expect(serialsListedInPem(encodePem('X509 CRL', bytes)).size).toBe(readable ? 2 : 0);
  });

  it('one naming another signature algorithm inside than outside has no signed part to check, though it can be read', () => {
    const crl = edited((tbs) => {
      tbs[1] = toDer(seq([oid(OID.ecdsaWithSha384)]));
    });
    expect(readSignedCrl(crl)).toBeUndefined();
    expect(readCrlContent(crl)?.serials).toEqual(['0a', '0b']);
  });

  it('one whose authorityKeyIdentifier is marked critical, which OpenSSL handles, is read', () => {
    const crl = edited((tbs) => {
      const [aki, number] = topChildren(topChildren(tbs[6]!)[0]!);
      const [id, value] = topChildren(aki!);
      tbs[6] = tlv(0xa0, extensionList(tlv(0x30, Buffer.concat([id!, Buffer.from([0x01, 0x01, 0xff]), value!])), number!));
    });
    expect(readSignedCrl(crl)).toBeDefined();
    expect(readCrlContent(crl)?.serials).toEqual(['0a', '0b']);
  });

  it('a v1 CRL (no version, no nextUpdate, no extensions) is read', () => {
    const [tbs, ...outer] = topChildren(good);
    const [, algorithm, issuer, thisUpdate, , list] = topChildren(tbs!);
    const v1 = tlv(0x30, Buffer.concat([tlv(0x30, Buffer.concat([algorithm!, issuer!, thisUpdate!, list!])), ...outer]));
    expect(readCrlContent(v1)).toMatchObject({ serials: ['0a', '0b'], nextUpdate: undefined, crlNumber: undefined });
    expect(toDer(time(readCrlContent(v1)!.thisUpdate))).toEqual(thisUpdate);
  });
});

const REASON_OID = toDer(oid(OID.cRLReason));
/** A cRLReason extension (keyCompromise), as an entry holds one. */
const reasonCode = tlv(0x30, Buffer.concat([REASON_OID, tlv(0x04, Buffer.from('0a0101', 'hex'))]));
const extensionList = (...extensions: Buffer[]) => tlv(0x30, Buffer.concat(extensions));
/** An extension `id` marked critical, whose value holds `value`. */
const critical = (id: string, value: Buffer) => tlv(0x30, Buffer.concat([toDer(oid(id)), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, value)]));
/** A cRLNumber extension whose value holds `value`. */
const crlNumber = (value: Buffer) => tlv(0x30, Buffer.concat([toDer(oid(OID.cRLNumber)), tlv(0x04, value)]));

/** DER tag and length around `body`, the length in its shortest form. */
function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

/** The elements a well-formed constructed element holds, each with its tag and length. */
function topChildren(element: Buffer): Buffer[] {
  const lengthOctets = element[1]! & 0x80 ? element[1]! & 0x7f : 0;
  const found: Buffer[] = [];
  for (let at = 2 + lengthOctets; at < element.length; ) {
    const first = element[at + 1]!;
    const octets = first & 0x80 ? first & 0x7f : 0;
    const length = octets ? element.subarray(at + 2, at + 2 + octets).reduce((n, b) => n * 256 + b, 0) : first;
    found.push(element.subarray(at, at + 2 + octets + length));
    at += 2 + octets + length;
  }
  return found;
}
