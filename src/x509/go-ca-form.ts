/**
 * What Go's crypto/x509 (under SPIRE and go-spiffe) refuses in a CA
 * certificate that OpenSSL takes: its parser (parser.go) is strict where
 * OpenSSL's is lenient, and a certificate it cannot parse fails every chain
 * through it; a CA's subject is also the issuer name of every certificate it
 * signs, which Go parses with each SVID. Its verifier also holds a CA's
 * extended key usage and key type to what it signs. Each check is confirmed
 * against Go (test/interop/go-imported-ca-form.test.ts holds meshca's,
 * OpenSSL's and Go's verdicts side by side); the words in quotes are Go's error.
 */
import { Asn1ParseError, children, is, parseDer, readOid, Tag, TagClass, valueBytes, type Asn1 } from './asn1.js';
import type { CertificateFacts } from './certificate-reader.js';
import { OID } from './oids.js';

export type GoFormFacts = Pick<
  CertificateFacts,
  | 'subjectName' | 'issuerName' | 'serialIsNegative' | 'nonDerBoolean' | 'keyUsageUnusedBitsSet' | 'subjectAltNames' | 'extendedKeyUsages' | 'spki'
  | 'signatureAlgorithm' | 'version' | 'extensionValues' | 'criticalExtensions'
>;

const GO = "Go's crypto/x509 (under SPIRE and go-spiffe)";

/**
 * Why Go refuses a CA certificate, or every chain through it, where OpenSSL
 * does not; or undefined. `isTrustAnchor`: the last of the path, whose own
 * signature no verifier checks.
 */
export function goFormProblem(facts: GoFormFacts, isTrustAnchor: boolean): string | undefined {
  if (facts.version > 3) return `is a version ${facts.version} certificate, and ${GO} refuses any version above 3 ("x509: invalid version")`;
  const unhandled = facts.criticalExtensions.find((oid) => !HANDLED_BY_GO.has(oid));
  if (unhandled !== undefined) {
    return `marks extension ${unhandled} critical, which Go's crypto/x509 does not handle, and Go (under SPIRE and go-spiffe) refuses every chain through it ("x509: unhandled critical extension")`;
  }
  for (const [field, name] of [['subject', facts.subjectName], ['issuer', facts.issuerName]] as const) {
    const problem = nameStringProblem(name);
    if (problem) return `has ${field} name ${problem}, which ${GO} refuses in it and in every certificate it signs ("x509: invalid RDNSequence: invalid attribute value")`;
  }
  // Refused by default since Go 1.23 (GODEBUG x509negativeserial); earlier releases took it.
  if (facts.serialIsNegative) return `has a negative serial number (RFC 5280 4.1.2.2), which ${GO} refuses from Go 1.23 on ("x509: negative serial number")`;
  if (facts.nonDerBoolean) {
    const error = facts.nonDerBoolean.startsWith('the critical field') ? 'x509: malformed extension critical field' : 'x509: invalid basic constraints';
    return `encodes TRUE in ${facts.nonDerBoolean} as another octet than DER's 0xFF (X.690 11.1), which ${GO} refuses ("${error}")`;
  }
  if (facts.keyUsageUnusedBitsSet) return `sets bits its keyUsage BIT STRING declares unused, which DER wants clear, and ${GO} refuses it ("x509: invalid key usage")`;
  for (const [id, { name, error }] of Object.entries(SEQUENCES_OF_OID_LED_SEQUENCES)) {
    const value = facts.extensionValues.get(id);
    if (value !== undefined && !isSequenceOfOidLedSequences(value)) {
      return `has a ${name} extension that is not a SEQUENCE of SEQUENCEs each led by an OBJECT IDENTIFIER, and ${GO} refuses the certificate, critical or not ("${error}")`;
    }
  }
  const san = facts.subjectAltNames.map(subjectAltNameProblem).find((p) => p !== undefined);
  if (san) return `has a subjectAltName ${san}, and ${GO} refuses the certificate`;
  const ekus = facts.extendedKeyUsages;
  if (ekus && !ekus.includes(ANY_EXTENDED_KEY_USAGE) && !(ekus.includes(OID.serverAuth) && ekus.includes(OID.clientAuth))) {
    return `has an extendedKeyUsage without both serverAuth and clientAuth (${ekus.join(', ')}), which bounds what it signs: ${GO} refuses meshca's SVIDs under it for the purpose it lacks ("x509: certificate specifies an incompatible key usage"), and so does OpenSSL verifying for it as nginx does (-purpose sslclient or sslserver: "unsuitable certificate purpose")`;
  }
  return publicKeyProblem(facts.spki) ?? (isTrustAnchor ? undefined : signatureAlgorithmProblem(facts.signatureAlgorithm));
}

/**
 * The extensions Go's crypto/x509 handles when marked critical (parser.go,
 * processExtensions): Go, under SPIRE and go-spiffe, refuses every chain
 * through a certificate with any other critical extension ("x509: unhandled
 * critical extension"). The three policy extensions are handled from Go 1.24
 * on, when Go began validating policies; earlier releases refuse them.
 */
const HANDLED_BY_GO: ReadonlySet<string> = new Set([
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.30', // nameConstraints
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.32', // certificatePolicies
  '2.5.29.37', // extKeyUsage
  '2.5.29.33', // policyMappings
  '2.5.29.36', // policyConstraints
  '2.5.29.54', // inhibitAnyPolicy
]);

const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/**
 * Extensions meshca does not read that Go parses in every certificate,
 * critical or not (processExtensions), each a SEQUENCE OF SEQUENCE { OID, ... }:
 * AccessDescription (RFC 5280 4.2.2.1), PolicyInformation (4.2.1.4).
 */
const SEQUENCES_OF_OID_LED_SEQUENCES: Record<string, { readonly name: string; readonly error: string }> = {
  '1.3.6.1.5.5.7.1.1': { name: 'authorityInfoAccess', error: 'x509: invalid authority info access' },
  '2.5.29.32': { name: 'certificatePolicies', error: 'x509: invalid certificate policies' },
};

function isSequenceOfOidLedSequences(value: Buffer): boolean {
  try {
    const node = parseDer(value);
    return is(node, TagClass.UNIVERSAL, Tag.SEQUENCE)
      && children(node).every((item) => is(item, TagClass.UNIVERSAL, Tag.SEQUENCE) && readOid(children(item)[0]) !== '');
  } catch (err) {
    if (err instanceof Asn1ParseError) return false;
    throw err;
  }
}

/** ASN.1 string types Go reads in a name (parseASN1String), each with the bytes it accepts in one. */
const GO_NAME_STRINGS: Record<number, { readonly name: string; readonly accepts: (value: Buffer) => boolean }> = {
  [Tag.PRINTABLESTRING]: { name: 'PrintableString', accepts: (v) => /^[a-zA-Z0-9'()+,\-./ :=?*&]*$/.test(v.toString('latin1')) },
  [Tag.UTF8]: { name: 'UTF8String', accepts: (v) => isUtf8(v) },
  20: { name: 'T61String', accepts: () => true },
  [Tag.BMPSTRING]: { name: 'BMPString', accepts: () => true },
  [Tag.IA5STRING]: { name: 'IA5String', accepts: (v) => v.every((b) => b < 0x80) },
  18: { name: 'NumericString', accepts: (v) => /^[0-9 ]*$/.test(v.toString('latin1')) },
};

const isUtf8 = (bytes: Buffer) => {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
};

/** What in a Name Go cannot read: an attribute value of another type than GO_NAME_STRINGS, or outside its type's characters. */
function nameStringProblem(name: Asn1): string | undefined {
  for (const rdn of children(name)) {
    for (const attribute of children(rdn)) {
      const [type, value] = children(attribute);
      const form = value && !value.constructed && value.tagClass === TagClass.UNIVERSAL ? GO_NAME_STRINGS[value.type] : undefined;
      if (!form) return `attribute ${readOid(type)} with a value of ASN.1 type ${value?.type ?? 'none'}, not a string type Go reads`;
      if (!form.accepts(valueBytes(value!))) return `attribute ${readOid(type)} as ${form.name} holding characters outside its set`;
    }
  }
  return undefined;
}

/** GeneralName tags (RFC 5280 4.2.1.6) Go reads in a subjectAltName. */
const EMAIL = 1;
const DNS = 2;
const URI = 6;
const IP = 7;

function subjectAltNameProblem({ tag, value }: CertificateFacts['subjectAltNames'][number]): string | undefined {
  const text = value.toString('latin1');
  if ((tag === EMAIL || tag === DNS || tag === URI) && !value.every((b) => b < 0x80)) {
    return `${tag === URI ? 'URI' : tag === DNS ? 'DNS name' : 'email address'} ${JSON.stringify(text)} with a byte outside IA5String ("x509: SAN ... is malformed")`;
  }
  if (tag === IP && value.length !== 4 && value.length !== 16) return `IP address of ${value.length} octets ("x509: cannot parse IP address of length ${value.length}")`;
  if (tag === URI) {
    const problem = uriProblem(text);
    if (problem) return `URI ${JSON.stringify(text)} Go cannot parse: ${problem} ("x509: cannot parse URI")`;
  }
  return undefined;
}

/**
 * Why Go's net/url.Parse, or crypto/x509's check of the host it finds
 * (domainToReverseLabels), refuses a URI; undefined where Go parses it. As
 * strict as Go or a little stricter (any '%' in a host), never more lenient.
 */
function uriProblem(uri: string): string | undefined {
  if (/[\x00-\x1f\x7f]/.test(uri)) return 'a control character';
  if (/%(?![0-9a-fA-F]{2})/.test(uri)) return 'a % not followed by two hex digits';
  const beforeFragment = uri.split('#')[0]!;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(beforeFragment);
  if (!scheme) {
    if (beforeFragment.startsWith(':')) return 'no scheme before its colon';
    if (/^[^/?]*:/.test(beforeFragment)) return 'a colon in its first path segment';
    return undefined;
  }
  const rest = beforeFragment.slice(scheme[0].length).split('?')[0]!;
  if (!rest.startsWith('//')) return undefined;
  const authority = rest.slice(2).split('/')[0]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  let host = hostPort;
  let port = '';
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return "no ']' closing its IPv6 host";
    host = hostPort.slice(0, close + 1);
    port = hostPort.slice(close + 1);
    if (port !== '' && !port.startsWith(':')) return 'characters after its IPv6 host';
  } else if (hostPort.includes(':')) {
    host = hostPort.slice(0, hostPort.lastIndexOf(':'));
    port = hostPort.slice(hostPort.lastIndexOf(':'));
  }
  if (!/^(:[0-9]*)?$/.test(port)) return 'a port that is not a number';
  if (!/^[a-zA-Z0-9\-_.~!$&'()*+,;=:[\]<>"]*$/.test(host)) return 'a character Go does not take in a host';
  if (hostPort !== '' && hostPort.split('.').some((label) => label === '')) return 'a host with an empty label (or a trailing dot)';
  return undefined;
}

/** Public key algorithms Go verifies signatures with (x509.go), and for ECDSA the curves it reads. */
const GO_EC_CURVES: ReadonlySet<string> = new Set(['1.3.132.0.33', OID.p256, OID.p384, '1.3.132.0.35']);

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }. */
function publicKeyProblem(spki: Asn1): string | undefined {
  const [algorithm] = children(spki);
  const [id, parameters] = children(algorithm!);
  const oid = readOid(id);
  if (oid === OID.rsaEncryption || oid === OID.ed25519) return undefined;
  if (oid === OID.ecPublicKey) {
    const curve = parameters && parameters.type === Tag.OID ? readOid(parameters) : undefined;
    if (curve !== undefined && GO_EC_CURVES.has(curve)) return undefined;
    return `has an EC key on curve ${curve ?? '(explicit parameters)'}, which ${GO} does not read ("x509: unsupported elliptic curve"): it accepts P-224, P-256, P-384 and P-521`;
  }
  return `has a key of algorithm ${oid}, with which ${GO} cannot verify what it signs ("x509: cannot verify signature: algorithm unimplemented"): it takes RSA (rsaEncryption), ECDSA and Ed25519 keys`;
}

/** Signature algorithms Go verifies a certificate's signature with, by OID: SHA-2 with RSA PKCS#1 v1.5 and ECDSA, and Ed25519. */
const GO_SIGNATURES: ReadonlySet<string> = new Set([
  OID.sha256WithRsa, OID.sha384WithRsa, OID.sha512WithRsa, OID.ecdsaWithSha256, OID.ecdsaWithSha384, OID.ecdsaWithSha512, OID.ed25519,
]);
/** The insecure ones Go knows and refuses (since Go 1.18 for SHA-1), with the name its error gives them. */
const GO_INSECURE: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'MD5-RSA',
  '1.2.840.113549.1.1.5': 'SHA1-RSA',
  '1.2.840.10045.4.1': 'ECDSA-SHA1',
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';
const MGF1 = '1.2.840.113549.1.1.8';
/** The hashes Go takes in RSASSA-PSS parameters, with the salt length it requires of each (their output length). */
const PSS_SALT: Record<string, number> = { '2.16.840.1.101.3.4.2.1': 32, '2.16.840.1.101.3.4.2.2': 48, '2.16.840.1.101.3.4.2.3': 64 };

/** Why Go cannot verify the signature on a certificate below the trust anchor, or undefined. */
function signatureAlgorithmProblem(algorithm: Asn1): string | undefined {
  const [id, parameters] = children(algorithm);
  const oid = readOid(id);
  if (GO_SIGNATURES.has(oid) || (oid === RSASSA_PSS && parameters && goReadsPssParameters(parameters))) return undefined;
  if (GO_INSECURE[oid]) {
    return `is signed with ${GO_INSECURE[oid]}, which ${GO} refuses as insecure in every chain through it ("x509: cannot verify signature: insecure algorithm ${GO_INSECURE[oid]}")`;
  }
  const pss = oid === RSASSA_PSS ? ' with other parameters than Go takes (SHA-256, -384 or -512, MGF1 with the same hash, a salt as long as the hash)' : '';
  return `is signed with algorithm ${oid}${pss}, which ${GO} cannot verify ("x509: cannot verify signature: algorithm unimplemented")`;
}

/**
 * RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0], maskGenAlgorithm [1], saltLength [2], trailerField [3] DEFAULT 1 },
 * as Go's getSignatureAlgorithmFromAI reads them: the hash given, MGF1 over the same hash, the salt as long as the hash.
 */
function goReadsPssParameters(parameters: Asn1): boolean {
  const fields = new Map(children(parameters).map((field) => [field.type, children(field)[0]!]));
  const hash = fields.get(0);
  const mgf = fields.get(1);
  const salt = fields.get(2);
  const trailer = fields.get(3);
  if (!hash || !mgf || !salt) return false;
  const hashOid = readOid(children(hash)[0]);
  const [mgfOid, mgfHash] = children(mgf);
  const saltLength = valueBytes(salt).reduce((n, b) => n * 256 + b, 0);
  return readOid(mgfOid) === MGF1 && mgfHash !== undefined && readOid(children(mgfHash)[0]) === hashOid && PSS_SALT[hashOid] === saltLength
    && (trailer === undefined || valueBytes(trailer).equals(Buffer.from([1])));
}
