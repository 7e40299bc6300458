/**
 * What Go's crypto/x509 refuses in a CA certificate where OpenSSL does not:
 * each refusal names what Go reads and its error (the three verdicts side by
 * side, on certificates openssl made, are in test/interop/go-imported-ca-form.test.ts),
 * and the facts it is judged on as readCertificate reads them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { bitString, bool, children, explicit, octets, oid, seq, set, Tag, TagClass, toDer, utf8, type Asn1 } from '../../src/x509/asn1.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { goFormProblem, type GoFormFacts } from '../../src/x509/go-ca-form.js';
import { OID } from '../../src/x509/oids.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { CA_EXTENSIONS, selfSigned } from '../support/openssl-pki.js';
import { resignedWith } from '../support/resigned-certificates.js';
import { tempDir } from '../support/temp-dir.js';

const asn1 = createRequire(import.meta.url)('node-forge/lib/asn1.js') as typeof forge.asn1;
const primitive = (tag: number, bytes: Buffer | string): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, tag, false, Buffer.isBuffer(bytes) ? bytes.toString('binary') : bytes);
const nameOf = (value: Asn1): Asn1 => seq([set([seq([oid(OID.commonName), value])])]);
const NAME = nameOf(utf8('CA'));
const spki = (algorithm: Asn1[]) => seq([seq(algorithm), bitString(Buffer.alloc(65, 4))]);

function facts(o: Partial<GoFormFacts> = {}): GoFormFacts {
  return {
    subjectName: NAME, issuerName: NAME, serialIsNegative: false, nonDerBoolean: undefined, keyUsageUnusedBitsSet: false, subjectAltNames: [],
    extendedKeyUsages: undefined, spki: spki([oid(OID.ecPublicKey), oid(OID.p256)]), signatureAlgorithm: seq([oid(OID.ecdsaWithSha256)]),
    version: 3, extensionValues: new Map(), criticalExtensions: [OID.basicConstraints, OID.keyUsage], ...o,
  };
}

const GO = "Go's crypto/x509 (under SPIRE and go-spiffe)";
const NAME_REFUSED = (field: string, what: string) =>
  `has ${field} name attribute 2.5.4.3 ${what}, which ${GO} refuses in it and in every certificate it signs ("x509: invalid RDNSequence: invalid attribute value")`;
const SAN_REFUSED = (what: string) => `has a subjectAltName ${what}, and ${GO} refuses the certificate`;
const URI_REFUSED = (uri: string, why: string) => SAN_REFUSED(`URI ${JSON.stringify(uri)} Go cannot parse: ${why} ("x509: cannot parse URI")`);
const EKU_REFUSED = (ekus: string) =>
  `has an extendedKeyUsage without both serverAuth and clientAuth (${ekus}), which bounds what it signs: ${GO} refuses meshca's SVIDs under it for the purpose it lacks ("x509: certificate specifies an incompatible key usage"), and so does OpenSSL verifying for it as nginx does (-purpose sslclient or sslserver: "unsuitable certificate purpose")`;
const AIA = '1.3.6.1.5.5.7.1.1';
const POLICIES = '2.5.29.32';
const der = (node: Asn1) => toDer(node);
const SEQUENCES_REFUSED = (name: string, error: string) =>
  `has a ${name} extension that is not a SEQUENCE of SEQUENCEs each led by an OBJECT IDENTIFIER, and ${GO} refuses the certificate, critical or not ("${error}")`;
const uri = (text: string) => ({ tag: 6, value: Buffer.from(text, 'latin1') });

describe('goFormProblem: what Go refuses in a CA that OpenSSL takes', () => {
  it.each<[string, GoFormFacts, string | undefined]>([
    ['pass/a UTF8String name, P-256 key, no subjectAltName or extendedKeyUsage', facts(), undefined],
    ['pass/names in each string type Go reads, with the characters it takes',
      facts({ subjectName: seq([...['Org (Root) *&', "a-z A-Z 0-9 '+,-./:=?"].map((t) => set([seq([oid(OID.commonName), primitive(Tag.PRINTABLESTRING, t)])])),
        set([seq([oid(OID.organization), primitive(20, Buffer.from('caf\xe9', 'latin1'))])]), set([seq([oid(OID.organization), primitive(Tag.BMPSTRING, 'org')])]),
        set([seq([oid(OID.organization), primitive(Tag.IA5STRING, 'org')])]), set([seq([oid(OID.organization), primitive(18, '12 34')])])]) }), undefined],
    ['fail/a PrintableString with "@"', facts({ subjectName: nameOf(primitive(Tag.PRINTABLESTRING, 'a@b')) }), NAME_REFUSED('subject', 'as PrintableString holding characters outside its set')],
    ['fail/a PrintableString with "_", in the issuer name', facts({ issuerName: nameOf(primitive(Tag.PRINTABLESTRING, 'a_b')) }),
      NAME_REFUSED('issuer', 'as PrintableString holding characters outside its set')],
    ['fail/a UTF8String that is not UTF-8', facts({ subjectName: nameOf(primitive(Tag.UTF8, Buffer.from([0x6f, 0xff]))) }), NAME_REFUSED('subject', 'as UTF8String holding characters outside its set')],
    ['fail/an IA5String with a byte above 127', facts({ subjectName: nameOf(primitive(Tag.IA5STRING, Buffer.from([0xe9]))) }), NAME_REFUSED('subject', 'as IA5String holding characters outside its set')],
    ['fail/a NumericString with a letter', facts({ subjectName: nameOf(primitive(18, '1a')) }), NAME_REFUSED('subject', 'as NumericString holding characters outside its set')],
    ['fail/a UniversalString', facts({ subjectName: nameOf(primitive(28, Buffer.from('\0\0\0o', 'latin1'))) }), NAME_REFUSED('subject', 'with a value of ASN.1 type 28, not a string type Go reads')],
    ['fail/a VisibleString', facts({ subjectName: nameOf(primitive(26, 'o')) }), NAME_REFUSED('subject', 'with a value of ASN.1 type 26, not a string type Go reads')],
    ['fail/version 4', facts({ version: 4 }), `is a version 4 certificate, and ${GO} refuses any version above 3 ("x509: invalid version")`],
    ['pass/authorityInfoAccess and certificatePolicies as RFC 5280 writes them', facts({ extensionValues: new Map([
      [AIA, der(seq([seq([oid('1.3.6.1.5.5.7.48.2'), primitive(Tag.NULL, '')])]))], [POLICIES, der(seq([seq([oid('2.5.29.32.0')])]))],
    ]) }), undefined],
    ['fail/an authorityInfoAccess that is a NULL', facts({ extensionValues: new Map([[AIA, Buffer.from('0500', 'hex')]]) }), SEQUENCES_REFUSED('authorityInfoAccess', 'x509: invalid authority info access')],
    ['fail/an authorityInfoAccess whose description is not led by an OID', facts({ extensionValues: new Map([[AIA, der(seq([seq([primitive(Tag.NULL, '')])]))]]) }),
      SEQUENCES_REFUSED('authorityInfoAccess', 'x509: invalid authority info access')],
    ['fail/certificatePolicies that is a NULL', facts({ extensionValues: new Map([[POLICIES, Buffer.from('0500', 'hex')]]) }), SEQUENCES_REFUSED('certificatePolicies', 'x509: invalid certificate policies')],
    ['fail/a negative serial', facts({ serialIsNegative: true }), `has a negative serial number (RFC 5280 4.1.2.2), which ${GO} refuses from Go 1.23 on ("x509: negative serial number")`],
    ['fail/a critical field TRUE as 0x01', facts({ nonDerBoolean: 'the critical field of extension 2.5.29.19' }),
      `encodes TRUE in the critical field of extension 2.5.29.19 as another octet than DER's 0xFF (X.690 11.1), which ${GO} refuses ("x509: malformed extension critical field")`],
    ["fail/basicConstraints' cA TRUE as 0x01", facts({ nonDerBoolean: "basicConstraints' cA field" }),
      `encodes TRUE in basicConstraints' cA field as another octet than DER's 0xFF (X.690 11.1), which ${GO} refuses ("x509: invalid basic constraints")`],
    ['fail/keyUsage with unused bits set', facts({ keyUsageUnusedBitsSet: true }),
      `sets bits its keyUsage BIT STRING declares unused, which DER wants clear, and ${GO} refuses it ("x509: invalid key usage")`],
    ['pass/subjectAltName URIs Go parses', facts({ subjectAltNames: ['https://ca.example.org:8443/x?y#z', 'http://[::1]:80/', 'urn:example:ca', 'spiffe://example.org', 'ca/relative'].map(uri) }), undefined],
    ['pass/an IPv4 and an IPv6 address, an empty DNS name', facts({ subjectAltNames: [{ tag: 7, value: Buffer.alloc(4) }, { tag: 7, value: Buffer.alloc(16) }, { tag: 2, value: Buffer.alloc(0) }] }), undefined],
    ['fail/an IP address of 5 octets', facts({ subjectAltNames: [{ tag: 7, value: Buffer.alloc(5) }] }), SAN_REFUSED('IP address of 5 octets ("x509: cannot parse IP address of length 5")')],
    ['fail/a DNS name with a byte above 127', facts({ subjectAltNames: [{ tag: 2, value: Buffer.from('r\xe9.org', 'latin1') }] }),
      SAN_REFUSED('DNS name "ré.org" with a byte outside IA5String ("x509: SAN ... is malformed")')],
    ['fail/a URI with an unclosed IPv6 host', facts({ subjectAltNames: [uri('http://[::1')] }), URI_REFUSED('http://[::1', "no ']' closing its IPv6 host")],
    ['fail/a URI whose host has an empty label', facts({ subjectAltNames: [uri('https://a..example.org/')] }), URI_REFUSED('https://a..example.org/', 'a host with an empty label (or a trailing dot)')],
    ['fail/a URI whose host ends with a dot', facts({ subjectAltNames: [uri('https://example.org./')] }), URI_REFUSED('https://example.org./', 'a host with an empty label (or a trailing dot)')],
    ['fail/a URI with a port that is not a number', facts({ subjectAltNames: [uri('https://example.org:x/')] }), URI_REFUSED('https://example.org:x/', 'a port that is not a number')],
    ['fail/a URI with a space in its host', facts({ subjectAltNames: [uri('https://exa mple.org/')] }), URI_REFUSED('https://exa mple.org/', 'a character Go does not take in a host')],
    ['fail/a URI with a bad percent escape', facts({ subjectAltNames: [uri('https://example.org/%zz')] }), URI_REFUSED('https://example.org/%zz', 'a % not followed by two hex digits')],
    ['fail/a URI with a control character', facts({ subjectAltNames: [uri('https://example.org/\n')] }), URI_REFUSED('https://example.org/\n', 'a control character')],
    ['fail/a URI without a scheme before its colon', facts({ subjectAltNames: [uri(':ca')] }), URI_REFUSED(':ca', 'no scheme before its colon')],
    ['pass/extendedKeyUsage serverAuth and clientAuth, among others', facts({ extendedKeyUsages: ['1.3.6.1.5.5.7.3.3', OID.serverAuth, OID.clientAuth] }), undefined],
    ['pass/extendedKeyUsage anyExtendedKeyUsage', facts({ extendedKeyUsages: ['2.5.29.37.0'] }), undefined],
    ['fail/extendedKeyUsage serverAuth alone', facts({ extendedKeyUsages: [OID.serverAuth] }), EKU_REFUSED(OID.serverAuth)],
    ['fail/extendedKeyUsage codeSigning alone', facts({ extendedKeyUsages: ['1.3.6.1.5.5.7.3.3'] }), EKU_REFUSED('1.3.6.1.5.5.7.3.3')],
    ['pass/an RSA key',
      facts({ spki: spki([oid(OID.rsaEncryption), primitive(Tag.NULL, '')]) }), undefined],
    ['pass/a P-521 key', facts({ spki: spki([oid(OID.ecPublicKey), oid('1.3.132.0.35')]) }), undefined],
    ['pass/an Ed25519 key', facts({ spki: spki([oid(OID.ed25519)]) }), undefined],
    ['fail/an EC key on secp256k1', facts({ spki: spki([oid(OID.ecPublicKey), oid('1.3.132.0.10')]) }),
      `has an EC key on curve 1.3.132.0.10, which ${GO} does not read ("x509: unsupported elliptic curve"): it accepts P-224, P-256, P-384 and P-521`],
    ['fail/an RSA-PSS key', facts({ spki: spki([oid('1.2.840.113549.1.1.10')]) }),
      `has a key of algorithm 1.2.840.113549.1.1.10, with which ${GO} cannot verify what it signs ("x509: cannot verify signature: algorithm unimplemented"): it takes RSA (rsaEncryption), ECDSA and Ed25519 keys`],
    ['fail/an Ed448 key', facts({ spki: spki([oid('1.3.101.113')]) }),
      `has a key of algorithm 1.3.101.113, with which ${GO} cannot verify what it signs ("x509: cannot verify signature: algorithm unimplemented"): it takes RSA (rsaEncryption), ECDSA and Ed25519 keys`],
  ])('%s (below the trust anchor)', (_name, given, problem) => {
    expect(goFormProblem(given, false)).toBe(problem);
  });

  const SHA256 = '2.16.840.1.101.3.4.2.1';
  const SHA384 = '2.16.840.1.101.3.4.2.2';
  /** RSASSA-PSS with these hash, MGF1 hash and salt length, each hash AlgorithmIdentifier with NULL parameters as OpenSSL writes them. */
  const pss = (hash: string, mgfHash: string, salt: number, trailer?: number) =>
    seq([oid('1.2.840.113549.1.1.10'), seq([
      explicit(0, seq([oid(hash), primitive(Tag.NULL, '')])),
      explicit(1, seq([oid('1.2.840.113549.1.1.8'), seq([oid(mgfHash), primitive(Tag.NULL, '')])])),
      explicit(2, primitive(Tag.INTEGER, String.fromCharCode(salt))),
      ...(trailer === undefined ? [] : [explicit(3, primitive(Tag.INTEGER, String.fromCharCode(trailer)))]),
    ])]);
  const UNIMPLEMENTED = (what: string) => `is signed with algorithm ${what}, which ${GO} cannot verify ("x509: cannot verify signature: algorithm unimplemented")`;
  const PSS_OTHER = '1.2.840.113549.1.1.10 with other parameters than Go takes (SHA-256, -384 or -512, MGF1 with the same hash, a salt as long as the hash)';
  const INSECURE = (name: string) => `is signed with ${name}, which ${GO} refuses as insecure in every chain through it ("x509: cannot verify signature: insecure algorithm ${name}")`;

  it.each<[string, Asn1, string | undefined]>([
    ['pass/ECDSA with SHA-384', seq([oid(OID.ecdsaWithSha384)]), undefined],
    ['pass/RSA PKCS#1 v1.5 with SHA-512', seq([oid(OID.sha512WithRsa), primitive(Tag.NULL, '')]), undefined],
    ['pass/Ed25519', seq([oid(OID.ed25519)]), undefined],
    ['pass/RSA-PSS with SHA-256, MGF1 over SHA-256, a salt of 32', pss(SHA256, SHA256, 32), undefined],
    ['pass/RSA-PSS with SHA-384 and the trailer field given as its default', pss(SHA384, SHA384, 48, 1), undefined],
    ['fail/RSA-PSS with SHA-256 and a salt of 20', pss(SHA256, SHA256, 20), UNIMPLEMENTED(PSS_OTHER)],
    ['fail/RSA-PSS with MGF1 over another hash', pss(SHA256, SHA384, 32), UNIMPLEMENTED(PSS_OTHER)],
    ['fail/RSA-PSS with trailer field 2', pss(SHA256, SHA256, 32, 2), UNIMPLEMENTED(PSS_OTHER)],
    ['fail/RSA-PSS without parameters (SHA-1 by default)', seq([oid('1.2.840.113549.1.1.10')]), UNIMPLEMENTED(PSS_OTHER)],
    ['fail/ECDSA with SHA-1', seq([oid('1.2.840.10045.4.1')]), INSECURE('ECDSA-SHA1')],
    ['fail/RSA with SHA-1', seq([oid('1.2.840.113549.1.1.5'), primitive(Tag.NULL, '')]), INSECURE('SHA1-RSA')],
    ['fail/RSA with MD5', seq([oid('1.2.840.113549.1.1.4'), primitive(Tag.NULL, '')]), INSECURE('MD5-RSA')],
    ['fail/Ed448', seq([oid('1.3.101.113')]), UNIMPLEMENTED('1.3.101.113')],
  ])('signature algorithm: %s', (_name, signatureAlgorithm, problem) => {
    expect(goFormProblem(facts({ signatureAlgorithm }), false)).toBe(problem);
  });

  it('pass/the trust anchor\'s own signature, which no verifier checks, may be of any algorithm', () => {
    expect(goFormProblem(facts({ signatureAlgorithm: seq([oid('1.2.840.10045.4.1')]) }), true)).toBeUndefined();
  });
});

describe('readCertificate: the facts Go is held to, from a root openssl made and re-signed changed', () => {
  const dir = tempDir('go-form-facts');
  const root = selfSigned(dir, 'root', { extensions: [...CA_EXTENSIONS, 'extendedKeyUsage=serverAuth', 'subjectAltName=URI:https://ca.example.org/,IP:10.0.0.1'] });
  const read = (edit: (fields: Asn1[]) => Asn1[], name: string) =>
    readCertificate(decodeCertificates(readFileSync(resignedWith(root, root.key, edit, join(dir, name)).cert, 'utf8'))[0]!);
  /** The extensions field with basicConstraints and keyUsage given as these (critical field, value). */
  const withExtensions = (bc: [Asn1, string], ku: [Asn1, string]) => (fields: Asn1[]) => {
    const replaced = [oid(OID.basicConstraints).value, oid(OID.keyUsage).value];
    const others = children(children(fields.at(-1)!)[0]!).filter((e) => !replaced.includes(children(e)[0]!.value));
    const ext = (id: string, [critical, hex]: [Asn1, string]) => seq([oid(id), critical, octets(Buffer.from(hex, 'hex'))]);
    return [...fields.slice(0, -1), explicit(3, seq([ext(OID.basicConstraints, bc), ext(OID.keyUsage, ku), ...others]))];
  };
  const BER_TRUE = primitive(Tag.BOOLEAN, Buffer.from([1]));

  it('reads a well-formed root as openssl made it', () => {
    const facts = read((f) => f, 'same.pem');
    expect({ ...facts, subjectName: undefined, issuerName: undefined, spki: undefined }).toMatchObject({
      serialIsNegative: false, nonDerBoolean: undefined, keyUsageUnusedBitsSet: false, extendedKeyUsages: [OID.serverAuth],
      subjectAltNames: [{ tag: 6, value: Buffer.from('https://ca.example.org/') }, { tag: 7, value: Buffer.from([10, 0, 0, 1]) }],
    });
    expect(goFormProblem(facts, true)).toBe(EKU_REFUSED(OID.serverAuth));
  });

  it.each<[string, (fields: Asn1[]) => Asn1[], Partial<GoFormFacts>]>([
    ['a negative serial', (f) => f.map((x, i) => (i === 1 ? primitive(Tag.INTEGER, Buffer.from([0x80, 1])) : x)), { serialIsNegative: true }],
    ['a critical field TRUE as 0x01', withExtensions([BER_TRUE, '30030101ff'], [bool(true), '03020106']), { nonDerBoolean: 'the critical field of extension 2.5.29.19' }],
    ["basicConstraints' cA TRUE as 0x01", withExtensions([bool(true), '3003010101'], [bool(true), '03020106']), { nonDerBoolean: "basicConstraints' cA field" }],
    ['keyUsage with an unused bit set', withExtensions([bool(true), '30030101ff'], [bool(true), '03020107']), { keyUsageUnusedBitsSet: true }],
    ['keyUsage with unused bits all clear', withExtensions([bool(true), '30030101ff'], [bool(true), '03020106']), { keyUsageUnusedBitsSet: false, nonDerBoolean: undefined }],
  ])('reads %s', (_name, edit, expected) => {
    expect(read(edit, 'edited.pem')).toMatchObject(expected);
  });
});
