/**
 * A CA brought to meshca in a form Go's crypto/x509 parses more strictly than
 * OpenSSL does (parser.go: names, serials, subjectAltNames, extension
 * encodings) or verifies more strictly (extended key usage, keys,
 * signatures), judged three ways as in go-imported-ca.test.ts: meshca's
 * import check, and OpenSSL and Go verifying an SVID-shaped leaf under it.
 * Each case names what it holds; meshca must accept a CA only where both
 * verifiers accept what it would issue.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkImport } from '../../src/ca/authority-factory.js';
import { InvalidInputError } from '../../src/errors.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { bool, children, explicit, octets, oid, seq, set, Tag, TagClass, toDer, type Asn1 } from '../../src/x509/asn1.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { buildGoPeer } from '../support/go-peer.js';
import { CA_EXTENSIONS, selfSigned, signedCa } from '../support/openssl-pki.js';
import { resignedWith } from '../support/resigned-certificates.js';
import { tempDir } from '../support/temp-dir.js';
import { svidShapedLeaf, verifiersAccept, type Verdicts } from '../support/verifier-verdicts.js';

const asn1 = createRequire(import.meta.url)('node-forge/lib/asn1.js') as typeof forge.asn1;

/** How the organisation root differs from openssl's P-256 CA with CA_EXTENSIONS. */
interface RootForm {
  /** openssl req -newkey arguments for its key. */
  readonly newKey?: readonly string[];
  /** More -addext values. */
  readonly extensions?: readonly string[];
  /** Its TBSCertificate's fields as changed (after openssl made it), and whether its subject, changed, is also the leaf's issuer. */
  readonly edit?: (fields: Asn1[]) => Asn1[];
  readonly subjectChanged?: true;
}

const TBS = { serial: 1, issuer: 3, subject: 5 } as const;

const primitive = (tag: number, bytes: Buffer): Asn1 => asn1.create(TagClass.UNIVERSAL, tag, false, bytes.toString('binary'));

/** A Name of one commonName whose value is `value` (any string type, any bytes). */
const nameOf = (value: Asn1): Asn1 => seq([set([seq([oid('2.5.4.3'), value])])]);

/** Both the subject and the issuer field (self-issued) replaced by `name`. */
const withName = (name: Asn1) => (fields: Asn1[]) => fields.map((f, i) => (i === TBS.issuer || i === TBS.subject ? name : f));

/** The extension `id` given as `value` (its extnValue's contents, raw), marked `critical`, in place of openssl's or after them. */
function withExtension(id: string, value: Buffer, critical?: Asn1) {
  return (fields: Asn1[]): Asn1[] => {
    const extensions = children(children(fields.at(-1)!)[0]!);
    const made = seq([oid(id), ...(critical ? [critical] : []), octets(value)]);
    const at = extensions.findIndex((e) => (children(e)[0]!.value as string) === (oid(id).value as string));
    const next = at < 0 ? [...extensions, made] : extensions.map((e, i) => (i === at ? made : e));
    return [...fields.slice(0, -1), explicit(3, seq(next))];
  };
}

const withSerial = (bytes: Buffer) => (fields: Asn1[]) => fields.map((f, i) => (i === TBS.serial ? primitive(Tag.INTEGER, bytes) : f));

const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const SUBJECT_ALT_NAME = '2.5.29.17';
const hex = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');
const der = (node: Asn1) => toDer(node);
/** A subjectAltName of one GeneralName [tag] holding `bytes`. */
const san = (tag: number, bytes: Buffer) => der(seq([asn1.create(TagClass.CONTEXT_SPECIFIC, tag, false, bytes.toString('binary'))]));

/** An organisation root in `form`, and an SVID-shaped leaf for spiffe://example.org/w under it, judged three ways. */
async function judge(form: RootForm): Promise<Verdicts> {
  const dir = tempDir('byo-form');
  const made = selfSigned(dir, 'root', { newKey: form.newKey, extensions: [...CA_EXTENSIONS, ...(form.extensions ?? [])] });
  // The leaf is signed under the root openssl made: openssl will not sign under a name it cannot read.
  let leaf = svidShapedLeaf(dir, made, 'spiffe://example.org/w');
  const root = form.edit ? resignedWith(made, made.key, form.edit, join(dir, 'root-edited.pem')) : made;
  if (form.subjectChanged) {
    const rootName = children(children(parseCert(root.cert))[0]!)[TBS.subject]!;
    leaf = resignedWith(leaf, root.key, (fields) => fields.map((f, i) => (i === TBS.issuer ? rootName : f)), join(dir, 'leaf-edited.pem'));
  }
  const rootPem = readFileSync(root.cert, 'utf8');
  const leafPem = readFileSync(leaf.cert, 'utf8');
  return { ...(await verifiersAccept(dir, rootPem, leafPem, 'spiffe://example.org/w')), meshca: meshcaAccepts(rootPem) };
}

/** Whether meshca imports the root as an organisation's, the parent of an intermediate for example.org (no key: every key type reaches the path check). */
function meshcaAccepts(rootPem: string): boolean {
  try {
    checkImport({ certDer: decodeCertificates(rootPem)[0]! }, 'root', Math.floor(Date.now() / 1000), [], TrustDomain.parse('example.org'));
    return true;
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    return false;
  }
}

function parseCert(file: string): Asn1 {
  return asn1.fromDer(decodeCertificates(readFileSync(file, 'utf8'))[0]!.toString('binary'));
}

const string = (tag: number, text: string) => primitive(tag, Buffer.from(text, 'latin1'));

const ALL = { openssl: true, go: true, meshca: true };
/** Go alone refuses; meshca with it. */
const GO_REFUSES = { openssl: true, go: false, meshca: false };
/** OpenSSL alone refuses (at TLS's security level 2); meshca with it. */
const OPENSSL_REFUSES = { openssl: false, go: true, meshca: false };
/** Neither verifier can read it, nor can meshca. */
const NONE = { openssl: false, go: false, meshca: false };
/** Both verifiers accept, and meshca refuses: stricter than it need be (see the report of each row). */
const MESHCA_STRICTER = { openssl: true, go: true, meshca: false };

describe('a CA in a form Go parses or verifies more strictly than OpenSSL: meshca accepts it only where both accept its SVIDs', () => {
  beforeAll(() => buildGoPeer(), 120_000);

  it.each<[string, RootForm, Verdicts]>([
    ['subject: a PrintableString', { edit: withName(nameOf(string(Tag.PRINTABLESTRING, 'Org Root'))), subjectChanged: true }, ALL],
    ['subject: a PrintableString with "@", outside its set', { edit: withName(nameOf(string(Tag.PRINTABLESTRING, 'root@org'))), subjectChanged: true }, GO_REFUSES],
    ['subject: a PrintableString with "_"', { edit: withName(nameOf(string(Tag.PRINTABLESTRING, 'org_root'))), subjectChanged: true }, GO_REFUSES],
    ['subject: a UTF8String that is not UTF-8', { edit: withName(nameOf(primitive(Tag.UTF8, hex('6f72 67ff')))), subjectChanged: true }, NONE],
    ['subject: a T61String (TeletexString)', { edit: withName(nameOf(string(20, 'org root'))), subjectChanged: true }, ALL],
    ['subject: a BMPString', { edit: withName(nameOf(string(Tag.BMPSTRING, 'org root'))), subjectChanged: true }, ALL],
    ['subject: a UniversalString', { edit: withName(nameOf(primitive(28, Buffer.from('\0\0\0o\0\0\0r', 'latin1')))), subjectChanged: true }, GO_REFUSES],
    ['subject: a VisibleString', { edit: withName(nameOf(string(26, 'org root'))), subjectChanged: true }, NONE],
    ['subject: an IA5String with a byte above 127', { edit: withName(nameOf(string(Tag.IA5STRING, 'org\xe9'))), subjectChanged: true }, GO_REFUSES],
    ['subject: a NumericString with a letter', { edit: withName(nameOf(string(18, '12a'))), subjectChanged: true }, GO_REFUSES],
    ['subject: an attribute whose value is an INTEGER', { edit: withName(nameOf(primitive(Tag.INTEGER, hex('05')))), subjectChanged: true }, NONE],
    ['serial: zero', { edit: withSerial(hex('00')) }, ALL],
    // Go 1.19, which Debian gives these tests, takes it; Go refuses it from 1.23 on (GODEBUG x509negativeserial), and meshca follows Go as it is now.
    ['serial: negative', { edit: withSerial(hex('ff')) }, { openssl: true, go: true, meshca: false }],
    ['serial: 21 octets', { edit: withSerial(hex('01'.repeat(21))) }, ALL],
    ['basicConstraints: cA TRUE as 0x01 (BER)', { edit: withExtension(BASIC_CONSTRAINTS, hex('3003 010101'), bool(true)) }, GO_REFUSES],
    ['basicConstraints: critical TRUE as 0x01 (BER)', { edit: withExtension(BASIC_CONSTRAINTS, hex('3003 0101ff'), primitive(Tag.BOOLEAN, hex('01'))) }, GO_REFUSES],
    // Trailing bytes in an extension's value are not DER: meshca's reader takes the extension for unreadable, where both verifiers read past them.
    ['basicConstraints: trailing bytes after its SEQUENCE', { edit: withExtension(BASIC_CONSTRAINTS, hex('3003 0101ff 0500'), bool(true)) }, MESHCA_STRICTER],
    ['basicConstraints: pathLen not minimally encoded', { edit: withExtension(BASIC_CONSTRAINTS, hex('3007 0101ff 02020001'), bool(true)) }, NONE],
    ['keyUsage: unused bits that are set', { edit: withExtension(KEY_USAGE, hex('03020107'), bool(true)) }, GO_REFUSES],
    ['keyUsage: trailing bytes after its BIT STRING', { edit: withExtension(KEY_USAGE, hex('03020106 0500'), bool(true)) }, MESHCA_STRICTER],
    ['keyUsage: keyCertSign with cRLSign given in a longer BIT STRING than needed', { edit: withExtension(KEY_USAGE, hex('0303000600'), bool(true)) }, ALL],
    ['subjectAltName: a URI Go cannot parse', { extensions: ['subjectAltName=URI:http://[::1'] }, GO_REFUSES],
    ['subjectAltName: a URI whose host has an empty label', { extensions: ['subjectAltName=URI:https://a..example.org/'] }, GO_REFUSES],
    ['subjectAltName: an IP address of 5 octets', { edit: withExtension(SUBJECT_ALT_NAME, san(7, hex('0a00000001'))) }, GO_REFUSES],
    ['subjectAltName: a DNS name with a byte above 127', { edit: withExtension(SUBJECT_ALT_NAME, san(2, Buffer.from('r\xe9.example.org', 'latin1'))) }, GO_REFUSES],
    ['subjectAltName: an empty DNS name', { edit: withExtension(SUBJECT_ALT_NAME, san(2, Buffer.alloc(0))) }, ALL],
    ['version: 4 (an encoded 3)', { edit: (f) => [explicit(0, primitive(Tag.INTEGER, hex('03'))), ...f.slice(1)] }, GO_REFUSES],
    ['subjectKeyIdentifier: an INTEGER, not an OCTET STRING', { edit: withExtension('2.5.29.14', hex('020101')) }, NONE],
    ['authorityKeyIdentifier: an OCTET STRING, not a SEQUENCE', { edit: withExtension('2.5.29.35', hex('0403010203')) }, NONE],
    ['authorityInfoAccess: a NULL', { edit: withExtension('1.3.6.1.5.5.7.1.1', hex('0500')) }, GO_REFUSES],
    ['cRLDistributionPoints: a NULL', { edit: withExtension('2.5.29.31', hex('0500')) }, NONE],
    ['certificatePolicies: a NULL', { edit: withExtension('2.5.29.32', hex('0500')) }, GO_REFUSES],
    ['extendedKeyUsage: a NULL', { edit: withExtension('2.5.29.37', hex('0500')) }, NONE],
    ['validity: a GeneralizedTime notBefore before 2050', { edit: (f) => f.map((x, i) => (i === 4 ? seq([primitive(24, Buffer.from('20240101000000Z')), children(x)[1]!]) : x)) }, ALL],
    // OpenSSL 3.0 takes an explicit DEFAULT for an invalid certificate; meshca's DER parser refuses it too.
    ['an extension marked not critical explicitly (FALSE, which DER leaves out)', { edit: withExtension('2.5.29.14', hex('0403010203'), bool(false)) }, { openssl: false, go: true, meshca: false }],
    ['extendedKeyUsage: serverAuth and clientAuth', { extensions: ['extendedKeyUsage=serverAuth,clientAuth'] }, ALL],
    ['extendedKeyUsage: serverAuth only', { extensions: ['extendedKeyUsage=serverAuth'] }, GO_REFUSES],
    ['extendedKeyUsage: codeSigning only', { extensions: ['extendedKeyUsage=codeSigning'] }, GO_REFUSES],
    ['extendedKeyUsage: anyExtendedKeyUsage', { extensions: ['extendedKeyUsage=anyExtendedKeyUsage'] }, ALL],
    // A CA's key only verifies what it signs, and Go 1.19 leaves a chain's exponents alone (crypto/rsa's checkPub refuses one above 2^31-1 in handshakes).
    ['key: RSA-2048 with exponent 3', { newKey: ['-newkey', 'rsa:2048', '-pkeyopt', 'rsa_keygen_pubexp:3'] }, ALL],
    ['key: RSA-2048 with exponent 2^32+1', { newKey: ['-newkey', 'rsa:2048', '-pkeyopt', 'rsa_keygen_pubexp:4294967297'] }, ALL],
    // Go takes it; OpenSSL's TLS at security level 2, Debian's and Ubuntu's default, refuses every chain through it.
    ['key: RSA-1024', { newKey: ['-newkey', 'rsa:1024'] }, OPENSSL_REFUSES],
    ['key: EC P-521', { newKey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'] }, ALL],
    ['key: EC secp256k1', { newKey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'] }, GO_REFUSES],
    ['key: Ed25519', { newKey: ['-newkey', 'ed25519'] }, ALL],
    ['key: RSA-PSS', { newKey: ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048'] }, GO_REFUSES],
  ])('%s', async (_name, form, expected) => {
    const verdicts = await judge(form);
    expect(verdicts).toEqual(expected);
    // Whatever the case, meshca never accepts a CA under which either verifier refuses an SVID.
    if (verdicts.meshca) expect(verdicts.openssl && verdicts.go).toBe(true);
  }, 30_000);
});

/** How the intermediate between the organisation root and the leaf is signed, and the root's key. */
interface ChainForm {
  readonly rootKey?: readonly string[];
  readonly signOptions: readonly string[];
  /** The intermediate's issuer name as encoded instead of the root's subject (/O=byo/CN=root in UTF8Strings), re-signed by the root. */
  readonly intermediateIssuer?: Asn1;
}

/** An organisation root, an intermediate for example.org it signs as `form` says, and an SVID-shaped leaf under it, judged three ways. */
async function judgeChain(form: ChainForm): Promise<Verdicts> {
  const dir = tempDir('byo-chain');
  const root = selfSigned(dir, 'root', { newKey: form.rootKey });
  const made = signedCa(dir, 'intermediate', root, { signOptions: form.signOptions });
  const issuer = form.intermediateIssuer;
  const intermediate = issuer ? resignedWith(made, root.key, (f) => f.map((x, i) => (i === TBS.issuer ? issuer : x)), join(dir, 'intermediate-edited.pem')) : made;
  const leaf = svidShapedLeaf(dir, intermediate, 'spiffe://example.org/w');
  const [rootPem, intermediatePem, leafPem] = [root, intermediate, leaf].map((f) => readFileSync(f.cert, 'utf8'));
  const verifiers = await verifiersAccept(dir, rootPem!, leafPem!, 'spiffe://example.org/w', intermediatePem!);
  const now = Math.floor(Date.now() / 1000);
  let meshca = true;
  try {
    const rootFacts = readCertificate(decodeCertificates(rootPem!)[0]!);
    checkImport({ certDer: decodeCertificates(intermediatePem!)[0]!, keyPem: readFileSync(intermediate.key, 'utf8') }, 'intermediate', now, [rootFacts], TrustDomain.parse('example.org'));
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    meshca = false;
  }
  return { ...verifiers, meshca };
}

/** /O=byo/CN=`cn`, each value a string of type `tag`. */
const byoName = (cn: string, tag: number) =>
  seq([set([seq([oid('2.5.4.10'), string(tag, 'byo')])]), set([seq([oid('2.5.4.3'), string(tag, cn)])])]);

describe('an intermediate signed by the organisation root with an unusual algorithm, or naming it in other bytes: meshca imports it only where both accept its SVIDs', () => {
  beforeAll(() => buildGoPeer(), 120_000);
  const RSA = ['-newkey', 'rsa:2048'];

  it.each<[string, ChainForm, Verdicts]>([
    ['ECDSA with SHA-256', { signOptions: [] }, ALL],
    ['ECDSA with SHA-384', { signOptions: ['-sha384'] }, ALL],
    ['ECDSA with SHA-512', { signOptions: ['-sha512'] }, ALL],
    // OpenSSL's TLS at security level 2 refuses SHA-1 signatures in a chain too (under 112 bits).
    ['ECDSA with SHA-1', { signOptions: ['-sha1'] }, NONE],
    ['RSA PKCS#1 v1.5 with SHA-256', { rootKey: RSA, signOptions: [] }, ALL],
    ['RSA PKCS#1 v1.5 with SHA-1', { rootKey: RSA, signOptions: ['-sha1'] }, NONE],
    ['RSA-PSS with SHA-256', { rootKey: RSA, signOptions: ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest'] }, ALL],
    ['RSA-PSS with SHA-256 and a salt of another length (Go takes only the hash\'s)', { rootKey: RSA, signOptions: ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:20'] }, GO_REFUSES],
    ['RSA-PSS with SHA-512', { rootKey: RSA, signOptions: ['-sha512', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest'] }, ALL],
    ['Ed25519', { rootKey: ['-newkey', 'ed25519'], signOptions: [] }, ALL],
    // OpenSSL finds an issuer by comparing names canonically (case and spaces folded, any string type); Go by their bytes.
    ['the root\'s name, byte for byte', { signOptions: [], intermediateIssuer: byoName('root', Tag.UTF8) }, ALL],
    ['the root\'s name in PrintableStrings', { signOptions: [], intermediateIssuer: byoName('root', Tag.PRINTABLESTRING) }, GO_REFUSES],
    ['the root\'s name in other case', { signOptions: [], intermediateIssuer: byoName('ROOT', Tag.UTF8) }, GO_REFUSES],
  ])('%s', async (_name, form, expected) => {
    const verdicts = await judgeChain(form);
    expect(verdicts).toEqual(expected);
    if (verdicts.meshca) expect(verdicts.openssl && verdicts.go).toBe(true);
  }, 30_000);
});
