/**
 * The constraints of a CA path meshca is to issue under, judged before it
 * does: every certificate a CA as -x509_strict wants one, no
 * pathLenConstraint exceeded (counted as RFC 5280 6.1.4 counts, meshca's own
 * intermediate included), and no name constraint that could exclude an SVID.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bitString, explicit, implicitConstructed, Tag, implicitPrimitive, oid, parseDer, seq, set, smallInt, toDer, utf8, type Asn1 } from '../../src/x509/asn1.js';
import { OID } from '../../src/x509/oids.js';
import { caPathProblem, type PathFacts } from '../../src/x509/ca-path-constraints.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { basename, join } from 'node:path';
import { CA_EXTENSIONS, selfSigned, signedCa, verify, type KeyPairFiles } from '../support/openssl-pki.js';
import { resigned } from '../support/resigned-certificates.js';
import { tempDir } from '../support/temp-dir.js';

/** A subjectAltName extension whose GeneralNames is an empty SEQUENCE, as openssl's configuration cannot otherwise write one. */
const EMPTY_SAN = '2.5.29.17=DER:3000';

const CA_NAME = seq([set([seq([oid(OID.commonName), utf8('CA')])])]);
/** An RSA SubjectPublicKeyInfo with a modulus of `bits` bits, as node:crypto writes it. */
const rsaSpki = (bits: number): Asn1 => parseDer(generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ type: 'spki', format: 'der' }));
const P256_SPKI = seq([seq([oid(OID.ecPublicKey), oid(OID.p256)]), bitString(Buffer.alloc(65, 4))]);

/** A well-formed CA certificate's facts, changed by `o`. */
function ca(o: Partial<PathFacts> & { pathLen?: number } = {}): PathFacts {
  const { pathLen, ...rest } = o;
  return {
    basicConstraints: { critical: true, ca: true, pathLen },
    hasKeyUsage: true,
    signsCertificates: true,
    isSelfIssued: false,
    nameConstraintsDer: undefined,
    version: 3,
    hasExtensions: true,
    subjectKeyIdentifier: { critical: false },
    authorityKeyIdentifier: { critical: false, hasKeyId: true },
    criticalExtensions: [OID.basicConstraints, OID.keyUsage],
    subjectIsEmpty: false,
    subjectAltNameIsEmpty: false,
    signatureAlgorithmsAgree: true,
    hasExplicitEcParameters: false,
    nonDerTime: undefined,
    duplicateExtension: undefined,
    isProxyCertificate: false,
    subjectName: CA_NAME,
    issuerName: CA_NAME,
    serialIsNegative: false,
    nonDerBoolean: undefined,
    keyUsageUnusedBitsSet: false,
    subjectAltNames: [],
    extendedKeyUsages: undefined,
    spki: P256_SPKI,
    signatureAlgorithm: seq([oid(OID.ecdsaWithSha256)]),
    extensionValues: new Map(),
    ...rest,
  };
}

const LABELS = ['the imported', 'chain 1', 'chain 2', 'the root'];
/** A path bottom first, each certificate labelled by its place. */
const path = (facts: PathFacts[], casBelow: number | undefined, trustDomain: string | undefined) =>
  caPathProblem({ certificates: facts.map((f, i) => ({ label: i === facts.length - 1 && i > 0 ? 'the root' : LABELS[i]!, facts: f })), casBelow, trustDomain });

describe('caPathProblem: every certificate is a CA as strict verifiers want one', () => {
  it.each<[string, PathFacts, string | undefined]>([
    ['pass/critical basicConstraints cA=true and keyUsage keyCertSign', ca(), undefined],
    ['pass/critical extensions OpenSSL processes besides: name constraints, policies, CRL distribution points, extended key usage',
      ca({ criticalExtensions: [OID.basicConstraints, OID.keyUsage, OID.nameConstraints, '2.5.29.32', '2.5.29.31', OID.extKeyUsage] }), undefined],
    ['pass/the critical policy extensions, which OpenSSL processes and Go has handled since 1.24', ca({ criticalExtensions: [OID.basicConstraints, OID.keyUsage, '2.5.29.33', '2.5.29.36', '2.5.29.54'] }), undefined],
    ['fail/no basicConstraints', ca({ basicConstraints: undefined }), 'the root is not a CA certificate: it needs basicConstraints cA=true'],
    ['fail/cA=false', ca({ basicConstraints: { critical: true, ca: false, pathLen: undefined } }), 'the root is not a CA certificate: it needs basicConstraints cA=true'],
    ['fail/basicConstraints not critical', ca({ basicConstraints: { critical: false, ca: true, pathLen: undefined } }),
      'the root has a basicConstraints extension that is not critical, and strict verifiers (openssl verify -x509_strict) refuse such a CA'],
    ['fail/no keyUsage', ca({ hasKeyUsage: false }),
      'the root has no keyUsage extension, and strict verifiers (openssl verify -x509_strict) refuse a CA without one'],
    ['fail/keyUsage without keyCertSign', ca({ signsCertificates: false }), 'the root may not sign certificates: its keyUsage lacks keyCertSign'],
  ])('%s (as the root above an intermediate)', (_name, root, problem) => {
    expect(path([ca(), root], 0, 'example.org')).toBe(problem);
  });

  it('fail/the first certificate that is not a CA is named, from the bottom', () => {
    expect(path([ca(), ca({ hasKeyUsage: false }), ca({ signsCertificates: false })], 0, 'example.org')).toBe(
      'chain 1 has no keyUsage extension, and strict verifiers (openssl verify -x509_strict) refuse a CA without one',
    );
  });
});

describe('caPathProblem: every certificate in the form -x509_strict wants (OpenSSL 3.0 check_extensions)', () => {
  const STRICT = 'strict verifiers (openssl verify -x509_strict';
  const NO_AKI = `has no authorityKeyIdentifier extension, and ${STRICT}: "Missing Authority Key Identifier") refuse one without it below the trust anchor`;
  const EXPLICIT = 'has an EC key with explicit curve parameters rather than a named curve (RFC 5480 2.1.1), and OpenSSL refuses it, with or without -x509_strict ("Certificate public key has explicit ECC parameters")';
  const NO_SKI = `has no subjectKeyIdentifier extension, and ${STRICT}: "Missing Subject Key Identifier") refuse a CA without one`;
  const DUPLICATE = `holds extension ${OID.basicConstraints} twice (RFC 5280 4.2 allows one of each), and OpenSSL takes it for an invalid certificate, with or without -x509_strict: no chain passes through it ("unable to get local issuer certificate")`;

  it.each<[string, PathFacts, string]>([
    ['fail/a v1 certificate with extensions', ca({ version: 1 }), `is a version 1 certificate with extensions, and ${STRICT}: "Using cert extension requires at least X509v3") refuse it`],
    ['fail/a v2 certificate with extensions', ca({ version: 2 }), `is a version 2 certificate with extensions, and ${STRICT}: "Using cert extension requires at least X509v3") refuse it`],
    ['fail/an empty subject', ca({ subjectIsEmpty: true }), `has an empty subject name, and ${STRICT}) refuse such a CA ("Subject name empty") and every certificate it signs ("Issuer name empty")`],
    ['fail/a subjectAltName with no name', ca({ subjectAltNameIsEmpty: true }),
      `has a subjectAltName extension that holds no name (RFC 5280 4.2.1.6 asks for at least one), and ${STRICT}: "Empty Subject Alternative Name extension") refuse it`],
    ['fail/inner and outer signature algorithms differ', ca({ signatureAlgorithmsAgree: false }),
      `names another algorithm in its TBSCertificate's signature field than in its signatureAlgorithm (RFC 5280 4.1.1.2), and ${STRICT}: "cert info signature and signature algorithm mismatch") refuse it`],
    ['fail/a critical subjectKeyIdentifier', ca({ subjectKeyIdentifier: { critical: true } }),
      'marks its subjectKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
    ['fail/a critical authorityKeyIdentifier', ca({ authorityKeyIdentifier: { critical: true, hasKeyId: true } }),
      'marks its authorityKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
    ['fail/a critical extension OpenSSL does not process (a private one)', ca({ criticalExtensions: [OID.basicConstraints, '1.3.6.1.4.1.99999.1', OID.keyUsage] }),
      'marks extension 1.3.6.1.4.1.99999.1 critical, which OpenSSL does not process, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
    ['fail/a critical authorityInfoAccess', ca({ criticalExtensions: [OID.basicConstraints, '1.3.6.1.5.5.7.1.1'] }),
      'marks extension 1.3.6.1.5.5.7.1.1 critical, which OpenSSL does not process, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
    ...[
      ['2.16.840.1.113730.1.1', "Netscape's cert type"],
      ['1.3.6.1.5.5.7.48.1.5', 'OCSP no-check'],
      ['1.3.6.1.5.5.7.1.7', 'RFC 3779 IP address blocks'],
      ['1.3.6.1.5.5.7.1.8', 'RFC 3779 AS identifiers'],
    ].map(([oid, name]): [string, PathFacts, string] => [`fail/a critical ${name}, which OpenSSL processes and Go does not`, ca({ criticalExtensions: [OID.basicConstraints, oid!] }),
      `marks extension ${oid} critical, which Go's crypto/x509 does not handle, and Go (under SPIRE and go-spiffe) refuses every chain through it ("x509: unhandled critical extension")`]),
    ['fail/proxyCertInfo, critical or not', ca({ isProxyCertificate: true }),
      'carries a proxyCertInfo extension, which makes it a proxy certificate (RFC 3820), and OpenSSL takes a CA that is one for an invalid certificate, with or without -x509_strict: no chain passes through it ("invalid certificate")'],
    ['fail/an EC key with explicit curve parameters', ca({ hasExplicitEcParameters: true }), EXPLICIT],
    ['fail/an extension given twice', ca({ duplicateExtension: OID.basicConstraints }), DUPLICATE],
    ['fail/a notBefore not in its DER form', ca({ nonDerTime: 'notBefore' }),
      `writes its notBefore in another form than DER's (UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ: RFC 5280 4.1.2.5), and OpenSSL refuses it, with or without -x509_strict ("format error in certificate's notBefore field")`],
    ['fail/a notAfter not in its DER form', ca({ nonDerTime: 'notAfter' }),
      `writes its notAfter in another form than DER's (UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ: RFC 5280 4.1.2.5), and OpenSSL refuses it, with or without -x509_strict ("format error in certificate's notAfter field")`],
    ['fail/no subjectKeyIdentifier', ca({ subjectKeyIdentifier: undefined }), NO_SKI],
    ['fail/no authorityKeyIdentifier', ca({ authorityKeyIdentifier: undefined }), NO_AKI],
    ['fail/an authorityKeyIdentifier of issuer and serial only', ca({ authorityKeyIdentifier: { critical: false, hasKeyId: false } }),
      `has an authorityKeyIdentifier without its keyIdentifier field, and ${STRICT}: "Missing Authority Key Identifier") refuse one without it below the trust anchor`],
  ])('%s (as a chain certificate)', (_name, between, problem) => {
    expect(path([ca(), between, ca()], 0, 'example.org')).toBe(`chain 1 ${problem}`);
  });

  it('fail/an authorityKeyIdentifier is asked of every certificate but the trust anchor, the last of the path', () => {
    const noAki = ca({ authorityKeyIdentifier: undefined });
    expect(path([noAki, ca()], 0, 'example.org')).toBe(`the imported ${NO_AKI}`);
    expect(path([ca(), noAki, ca()], 0, 'example.org')).toBe(`chain 1 ${NO_AKI}`);
    // The bundle root; a root imported with its key; an organisation root prepared without it.
    expect([path([ca(), noAki], 0, 'example.org'), path([noAki], 1, 'example.org'), path([noAki], undefined, undefined)]).toEqual([undefined, undefined, undefined]);
  });

  it.each<[string, PathFacts[], number | undefined, string | undefined]>([
    // A subjectKeyIdentifier it asks of every CA, the trust anchor included.
    ['fail/the bundle root without subjectKeyIdentifier', [ca(), ca({ subjectKeyIdentifier: undefined })], 0, `the root ${NO_SKI}`],
    ['fail/a root imported with its key, without subjectKeyIdentifier', [ca({ subjectKeyIdentifier: undefined })], 1, `the imported ${NO_SKI}`],
    ['fail/an organisation root prepared without its key, without subjectKeyIdentifier', [ca({ subjectKeyIdentifier: undefined })], undefined, `the imported ${NO_SKI}`],
    ['fail/the bundle root with a critical authorityKeyIdentifier', [ca(), ca({ authorityKeyIdentifier: { critical: true, hasKeyId: true } })], 0,
      'the root marks its authorityKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
    ['fail/the first certificate out of form is named, from the bottom', [ca(), ca({ subjectIsEmpty: true }), ca({ subjectKeyIdentifier: undefined })], 0,
      `chain 1 has an empty subject name, and ${STRICT}) refuse such a CA ("Subject name empty") and every certificate it signs ("Issuer name empty")`],
    ['fail/an issuer name in another string type than the subject above it', [ca(), ca({ issuerName: seq([set([seq([oid(OID.commonName), { ...utf8('CA'), type: Tag.PRINTABLESTRING }])])]) }), ca()], 0,
      `chain 1 names its issuer in other bytes than the root's subject name (another string type, case or spacing): OpenSSL compares names canonically and finds it, Go's crypto/x509 (under SPIRE and go-spiffe) compares their bytes and does not ("x509: certificate signed by unknown authority")`],
    ['fail/an issuer name in another case than the subject above it', [ca({ issuerName: seq([set([seq([oid(OID.commonName), utf8('ca')])])]) }), ca()], 0,
      `the imported names its issuer in other bytes than the root's subject name (another string type, case or spacing): OpenSSL compares names canonically and finds it, Go's crypto/x509 (under SPIRE and go-spiffe) compares their bytes and does not ("x509: certificate signed by unknown authority")`],
    ['pass/the trust anchor\'s issuer name, which nothing above it holds', [ca(), ca({ issuerName: seq([set([seq([oid(OID.commonName), utf8('other')])])]) })], 0, undefined],
    // What Go's crypto/x509 refuses where OpenSSL does not (x509/go-ca-form.ts, whose own tests hold every refusal).
    ['fail/a chain certificate Go refuses, for an extendedKeyUsage of serverAuth alone', [ca(), ca({ extendedKeyUsages: [OID.serverAuth] }), ca()], 0,
      `chain 1 has an extendedKeyUsage without both serverAuth and clientAuth (${OID.serverAuth}), which bounds what it signs: Go's crypto/x509 (under SPIRE and go-spiffe) refuses meshca's SVIDs under it for the purpose it lacks ("x509: certificate specifies an incompatible key usage"), and so does OpenSSL verifying for it as nginx does (-purpose sslclient or sslserver: "unsuitable certificate purpose")`],
    ['fail/the bundle root Go refuses, for a negative serial', [ca(), ca({ serialIsNegative: true })], 0,
      `the root has a negative serial number (RFC 5280 4.1.2.2), which Go's crypto/x509 (under SPIRE and go-spiffe) refuses from Go 1.23 on ("x509: negative serial number")`],
    // What OpenSSL's TLS refuses at security level 2 (x509/security-level.ts), the trust anchor's key included.
    ['fail/the bundle root with an RSA key of 1024 bits', [ca(), ca({ spki: rsaSpki(1024) })], 0,
      `the root has an RSA key of 1024 bits, and OpenSSL's TLS at security level 2, the default on Debian and Ubuntu (under nginx, HAProxy and curl), refuses every chain through a CA key below 2048 bits ("CA certificate key too weak")`],
    ['fail/an imported intermediate with an RSA key of 2047 bits', [ca({ spki: rsaSpki(2047) }), ca()], 0,
      `the imported has an RSA key of 2047 bits, and OpenSSL's TLS at security level 2, the default on Debian and Ubuntu (under nginx, HAProxy and curl), refuses every chain through a CA key below 2048 bits ("CA certificate key too weak")`],
    ['pass/RSA keys of 2048 bits', [ca({ spki: rsaSpki(2048) }), ca({ spki: rsaSpki(2048) })], 0, undefined],
  ])('%s', (_name, facts, casBelow, problem) => {
    expect(path(facts, casBelow, 'example.org')).toBe(problem);
  });
});

describe('caPathProblem: pathLenConstraint, counted along the path (RFC 5280 6.1.4)', () => {
  const tooShort = (who: string, limit: number, below: number, added = '') =>
    `${who} has pathLenConstraint ${limit}, which allows ${limit === 0 ? 'no CA certificate' : limit === 1 ? '1 CA certificate' : `${limit} CA certificates`} below it, and there would be ${below}${added}: every SVID issued under it would fail verification (RFC 5280 6.1.4)`;
  const MESHCA_INTERMEDIATE = ', counting the intermediate meshca makes under the imported';

  it.each<[string, PathFacts[], number | undefined, string | undefined]>([
    ['pass/an intermediate with pathLen 0 signs leaves only', [ca({ pathLen: 0 }), ca()], 0, undefined],
    ['fail/an intermediate right under a root with pathLen 0', [ca({ pathLen: 0 }), ca({ pathLen: 0 })], 0, tooShort('the root', 0, 1)],
    ['pass/an intermediate right under a root with pathLen 1', [ca({ pathLen: 0 }), ca({ pathLen: 1 })], 0, undefined],
    ['pass/a root with its key and no pathLen', [ca()], 1, undefined],
    ['pass/a root with its key and pathLen 1 (meshca\'s intermediate under it)', [ca({ pathLen: 1 })], 1, undefined],
    ['fail/a root with its key and pathLen 0', [ca({ pathLen: 0 })], 1, tooShort('the imported', 0, 1, MESHCA_INTERMEDIATE)],
    ['pass/an organisation root without key and pathLen 0 (what goes below is not known yet)', [ca({ pathLen: 0 })], undefined, undefined],
    ['fail/an intermediate under a chain certificate with pathLen 0', [ca(), ca({ pathLen: 0 }), ca()], 0, tooShort('chain 1', 0, 1)],
    ['pass/an intermediate under a chain certificate with pathLen 1', [ca(), ca({ pathLen: 1 }), ca()], 0, undefined],
    ['fail/a root with pathLen 2 above two chain certificates and the intermediate', [ca(), ca(), ca(), ca({ pathLen: 2 })], 0, tooShort('the root', 2, 3)],
    ['pass/a root with pathLen 3 above two chain certificates and the intermediate', [ca(), ca(), ca(), ca({ pathLen: 3 })], 0, undefined],
    ['fail/a root with pathLen 1 above a chain certificate and the intermediate', [ca(), ca(), ca({ pathLen: 1 })], 0, tooShort('the root', 1, 2)],
    ['pass/a self-issued chain certificate (a key rollover) does not count', [ca(), ca({ isSelfIssued: true }), ca({ pathLen: 1 })], 0, undefined],
    ['pass/a self-issued certificate is bound by its own pathLen all the same', [ca(), ca({ isSelfIssued: true, pathLen: 1 }), ca()], 0, undefined],
    ['fail/a self-issued certificate is bound by its own pathLen', [ca(), ca({ isSelfIssued: true, pathLen: 0 }), ca()], 0, tooShort('chain 1', 0, 1)],
  ])('%s', (_name, facts, casBelow, problem) => {
    expect(path(facts, casBelow, 'example.org')).toBe(problem);
  });
});

describe('caPathProblem: name constraints may not exclude the trust domain', () => {
  const uri = (host: string) => implicitPrimitive(6, Buffer.from(host, 'ascii'));
  const dns = (name: string) => implicitPrimitive(2, Buffer.from(name, 'ascii'));
  const email = (name: string) => implicitPrimitive(1, Buffer.from(name, 'ascii'));
  const ip = (bytes: number[]) => implicitPrimitive(7, Buffer.from(bytes));
  const directoryName = (o: string) => explicit(4, seq([set([seq([oid(OID.organization), utf8(o)])])]));
  /** NameConstraints with these permitted and excluded subtrees (a base alone, or with its bounds). */
  const constraints = (permitted: Asn1[], excluded: Asn1[] = [], bounds: Asn1[] = []): Buffer =>
    toDer(seq([
      ...(permitted.length ? [implicitConstructed(0, permitted.map((base) => seq([base, ...bounds])))] : []),
      ...(excluded.length ? [implicitConstructed(1, excluded.map((base) => seq([base, ...bounds])))] : []),
    ]));
  const OTHER_FORMS = (what: string) =>
    `the root has a name constraint on names other than URIs (${what}); meshca accepts URI name constraints only, as it cannot know every DNS name, IP address or subject its entries and the CA's serving certificate will carry`;

  const GO_EXCLUDES = (base: string, trustDomain: string) =>
    `the root excludes URIs under ${JSON.stringify(base)}, which holds the trust domain ${trustDomain} as Go's crypto/x509 (under SPIRE and go-spiffe) reads it: a base without a leading period covers its subdomains too, and an empty one every host`;
  const GO_IP = (what: string) =>
    `the root has a URI name constraint that is an IP address (${what}), which Go's crypto/x509 (under SPIRE and go-spiffe) refuses ("cannot be IP address"), and with it every certificate below`;
  const GO_UNREADABLE = (what: string) =>
    `the root has a URI name constraint Go's crypto/x509 cannot read as a host (${what}): Go, under SPIRE and go-spiffe, refuses every certificate below it`;

  it.each<[string, Buffer, string, string | undefined]>([
    ['pass/permitted: the trust domain\'s host', constraints([uri('example.org')]), 'example.org', undefined],
    ['pass/permitted: the host in another case', constraints([uri('Example.ORG')]), 'example.org', undefined],
    ['pass/permitted: a parent domain with a leading period', constraints([uri('.example.org')]), 'prod.example.org', undefined],
    ['pass/permitted: one of several', constraints([uri('other.org'), uri('example.org')]), 'example.org', undefined],
    ['pass/excluded: another host', constraints([], [uri('other.org')]), 'example.org', undefined],
    ['pass/excluded: a subdomain of the trust domain', constraints([], [uri('.example.org')]), 'example.org', undefined],
    ['fail/permitted: another host', constraints([uri('other.org')]), 'example.org',
      'the root permits URIs only under "other.org", which excludes the trust domain example.org (a URI name constraint is a host: "example.org" itself, or ".parent" for its subdomains)'],
    ['fail/permitted: a leading period, which excludes the domain itself', constraints([uri('.example.org')]), 'example.org',
      'the root permits URIs only under ".example.org", which excludes the trust domain example.org (a URI name constraint is a host: "example.org" itself, or ".parent" for its subdomains)'],
    ['fail/permitted: a suffix that is no parent domain', constraints([uri('.ample.org'), uri('ample.org')]), 'example.org',
      'the root permits URIs only under ".ample.org", "ample.org", which excludes the trust domain example.org (a URI name constraint is a host: "example.org" itself, or ".parent" for its subdomains)'],
    ['fail/permitted: a SPIFFE ID rather than a host', constraints([uri('spiffe://example.org')]), 'example.org',
      'the root permits URIs only under "spiffe://example.org", which excludes the trust domain example.org (a URI name constraint is a host: "example.org" itself, or ".parent" for its subdomains)'],
    ['fail/excluded: the trust domain\'s host', constraints([uri('example.org')], [uri('example.org')]), 'example.org',
      'the root excludes URIs under "example.org", which holds the trust domain example.org'],
    ['fail/excluded: a parent domain', constraints([], [uri('.example.org')]), 'prod.example.org',
      'the root excludes URIs under ".example.org", which holds the trust domain prod.example.org'],
    ['fail/excluded: a parent domain without a leading period, which Go reads as covering its subdomains', constraints([], [uri('example.org')]), 'prod.example.org',
      GO_EXCLUDES('example.org', 'prod.example.org')],
    ['fail/excluded: a top-level domain, which Go reads as covering every domain under it', constraints([], [uri('org')]), 'example.org', GO_EXCLUDES('org', 'example.org')],
    ['fail/excluded: an empty base, which Go reads as every host', constraints([], [uri('')]), 'example.org', GO_EXCLUDES('', 'example.org')],
    ['fail/a base Go cannot read: an empty label', constraints([uri('example..org'), uri('example.org')]), 'example.org', GO_UNREADABLE('permitted URI subtree "example..org"')],
    ['fail/a base Go cannot read: a trailing period', constraints([], [uri('other.org.')]), 'example.org', GO_UNREADABLE('excluded URI subtree "other.org."')],
    ['fail/a base Go cannot read: a space', constraints([], [uri('other .org')]), 'example.org', GO_UNREADABLE('excluded URI subtree "other .org"')],
    ['fail/an IPv4 address as a base, which Go refuses to parse', constraints([], [uri('10.0.0.1')]), 'example.org', GO_IP('excluded URI subtree "10.0.0.1"')],
    ['fail/an IPv6 address as a base', constraints([], [uri('::1')]), 'example.org', GO_IP('excluded URI subtree "::1"')],
    ['pass/a base that only looks like an IPv4 address (a leading zero, which Go reads as a host)', constraints([], [uri('010.0.0.1')]), 'example.org', undefined],
    ['pass/an IPv4 address after a leading period, which Go reads as a host', constraints([], [uri('.10.0.0.1')]), 'example.org', undefined],
    ['fail/permitted DNS, next to the trust domain\'s URI', constraints([uri('example.org'), dns('example.org')]), 'example.org', OTHER_FORMS('permitted DNS subtree "example.org"')],
    ['fail/excluded DNS', constraints([], [dns('evil.example')]), 'example.org', OTHER_FORMS('excluded DNS subtree "evil.example"')],
    ['fail/permitted IP address', constraints([ip([10, 0, 0, 0, 255, 0, 0, 0])]), 'example.org', OTHER_FORMS('permitted IP address subtree')],
    ['fail/excluded email', constraints([], [email('example.org')]), 'example.org', OTHER_FORMS('excluded email (rfc822Name) subtree "example.org"')],
    ['fail/permitted directoryName', constraints([directoryName('byo')]), 'example.org', OTHER_FORMS('permitted directoryName subtree')],
    ['fail/a URI subtree with a maximum', constraints([uri('example.org')], [], [implicitPrimitive(1, Buffer.from([1]))]), 'example.org',
      'the root has a name constraint with a minimum or maximum (permitted URI subtree "example.org"), which RFC 5280 forbids and verifiers refuse'],
    ['fail/not a NameConstraints', toDer(smallInt(1)), 'example.org', 'the root has a nameConstraints extension that cannot be read: expected a SEQUENCE'],
  ])('%s', (_name, der, trustDomain, problem) => {
    expect(path([ca(), ca({ nameConstraintsDer: der })], 0, trustDomain)).toBe(problem);
  });

  it.each<[string, Buffer, string | undefined]>([
    ['pass/URI constraints of any host', constraints([uri('other.org')], [uri('example.org')]), undefined],
    ['fail/a DNS constraint', constraints([dns('example.org')]), OTHER_FORMS('permitted DNS subtree "example.org"')],
    ['fail/a URI base Go cannot read', constraints([uri('example..org')]), GO_UNREADABLE('permitted URI subtree "example..org"')],
  ])('without a trust domain (an organisation\'s root): %s', (_name, der, problem) => {
    expect(path([ca(), ca({ nameConstraintsDer: der })], undefined, undefined)).toBe(problem);
  });
});

describe('readCertificate: what the path check reads, from certificates openssl made', () => {
  const facts = (extensions: string[]) => {
    const f = readCertificate(new X509Certificate(readFileSync(selfSigned(tempDir('ca-path'), 'ca', { extensions }).cert)).raw);
    return { basicConstraints: f.basicConstraints, hasKeyUsage: f.hasKeyUsage, signsCertificates: f.signsCertificates, isSelfIssued: f.isSelfIssued, nameConstraints: f.nameConstraintsDer !== undefined };
  };
  const KU = 'keyUsage=critical,keyCertSign,cRLSign';

  it.each<[string, string[], object]>([
    ['critical, with a pathlen', ['basicConstraints=critical,CA:TRUE,pathlen:3', KU], { basicConstraints: { critical: true, ca: true, pathLen: 3 }, hasKeyUsage: true, signsCertificates: true }],
    ['not critical, no pathlen, no keyUsage', ['basicConstraints=CA:TRUE'], { basicConstraints: { critical: false, ca: true, pathLen: undefined }, hasKeyUsage: false, signsCertificates: true }],
    ['CA:FALSE, keyUsage without keyCertSign', ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'], { basicConstraints: { critical: true, ca: false, pathLen: undefined }, hasKeyUsage: true, signsCertificates: false }],
    ['name constraints', ['basicConstraints=critical,CA:TRUE', KU, 'nameConstraints=critical,permitted;URI:example.org'], { nameConstraints: true, isSelfIssued: true }],
  ])('%s', (_name, extensions, expected) => {
    expect(facts(extensions)).toMatchObject(expected);
  });
});

describe('readCertificate: the form -x509_strict holds a CA to, from certificates openssl made', () => {
  const dir = tempDir('ca-path-form');
  const root = selfSigned(dir, 'root');
  const made = (name: string, o: Parameters<typeof signedCa>[3] = {}) => signedCa(dir, name, root, o);
  const form = (files: KeyPairFiles) => {
    const f = readCertificate(new X509Certificate(readFileSync(files.cert)).raw);
    return {
      version: f.version, hasExtensions: f.hasExtensions, subjectKeyIdentifier: f.subjectKeyIdentifier, authorityKeyIdentifier: f.authorityKeyIdentifier,
      subjectIsEmpty: f.subjectIsEmpty, subjectAltNameIsEmpty: f.subjectAltNameIsEmpty, signatureAlgorithmsAgree: f.signatureAlgorithmsAgree,
      hasExplicitEcParameters: f.hasExplicitEcParameters, criticalExtensions: f.criticalExtensions, nonDerTime: f.nonDerTime,
      duplicateExtension: f.duplicateExtension, isProxyCertificate: f.isProxyCertificate,
    };
  };
  const WELL_FORMED = {
    version: 3, hasExtensions: true, subjectKeyIdentifier: { critical: false }, authorityKeyIdentifier: { critical: false, hasKeyId: true },
    subjectIsEmpty: false, subjectAltNameIsEmpty: false, signatureAlgorithmsAgree: true, hasExplicitEcParameters: false,
    criticalExtensions: [OID.basicConstraints, OID.keyUsage], nonDerTime: undefined, duplicateExtension: undefined, isProxyCertificate: false,
  };

  it.each<[string, () => KeyPairFiles, object]>([
    ['as signedCa makes it', () => made('plain'), {}],
    ['no subjectKeyIdentifier', () => made('no-ski', { subjectKeyIdentifier: 'none' }), { subjectKeyIdentifier: undefined }],
    ['a critical subjectKeyIdentifier', () => made('critical-ski', { subjectKeyIdentifier: 'critical,hash' }),
      { subjectKeyIdentifier: { critical: true }, criticalExtensions: [OID.basicConstraints, OID.keyUsage, OID.subjectKeyIdentifier] }],
    ['no authorityKeyIdentifier', () => made('no-aki', { authorityKeyIdentifier: 'none' }), { authorityKeyIdentifier: undefined }],
    ['an authorityKeyIdentifier of issuer and serial', () => made('issuer-aki', { authorityKeyIdentifier: 'issuer:always' }), { authorityKeyIdentifier: { critical: false, hasKeyId: false } }],
    ['a critical authorityKeyIdentifier', () => made('critical-aki', { authorityKeyIdentifier: 'critical,keyid' }),
      { authorityKeyIdentifier: { critical: true, hasKeyId: true }, criticalExtensions: [OID.basicConstraints, OID.keyUsage, OID.authorityKeyIdentifier] }],
    ['a critical private extension', () => made('critical-private', { extensions: ['1.3.6.1.4.1.99999.1=critical,ASN1:NULL'] }),
      { criticalExtensions: [OID.basicConstraints, OID.keyUsage, '1.3.6.1.4.1.99999.1'] }],
    ['an empty subject', () => made('empty-subject', { subject: '/' }), { subjectIsEmpty: true }],
    ['a subjectAltName with no name', () => made('empty-san', { extensions: [EMPTY_SAN] }), { subjectAltNameIsEmpty: true }],
    ['a subjectAltName with a name', () => made('uri-san', { extensions: ['subjectAltName=URI:spiffe://example.org'] }), {}],
    ['a root with an empty name', () => selfSigned(dir, 'empty-root', { subject: '/' }), { subjectIsEmpty: true, authorityKeyIdentifier: { critical: false, hasKeyId: true } }],
    ['a root whose EC key spells out its curve', () => selfSigned(dir, 'explicit-root', { explicitEcParameters: true }),
      { hasExplicitEcParameters: true, authorityKeyIdentifier: { critical: false, hasKeyId: true } }],
    ['version 2, signed again', () => resigned(made('v2'), root.key, 'version 2', join(dir, 'v2-resigned.pem')), { version: 2 }],
    ['inner signature algorithm SHA-384, signed again', () => resigned(made('inner'), root.key, 'inner signature algorithm', join(dir, 'inner-resigned.pem')), { signatureAlgorithmsAgree: false }],
    ['validity without seconds, signed again', () => resigned(made('no-seconds'), root.key, 'validity without seconds', join(dir, 'no-seconds-resigned.pem')), { nonDerTime: 'notBefore' }],
    ['a non-critical proxyCertInfo', () => made('proxy', { extensions: ['proxyCertInfo=language:id-ppl-anyLanguage'] }), { isProxyCertificate: true }],
    ['its first extension given twice, signed again', () => resigned(made('twice'), root.key, 'an extension twice', join(dir, 'twice-resigned.pem')),
      { duplicateExtension: OID.basicConstraints }],
  ])('%s', (_name, make, differences) => {
    expect(form(make())).toEqual({ ...WELL_FORMED, ...differences });
  });
});

/**
 * The rules on a CA's form against the real tool: for each certificate out of
 * form, in a path openssl made, caPathProblem names it, and openssl verify
 * -x509_strict of a leaf under it fails with each error the refusal quotes;
 * the variants OpenSSL accepts pass both.
 */
describe('caPathProblem agrees with openssl verify -x509_strict on paths openssl made', () => {
  const dir = tempDir('ca-path-openssl');
  const root = selfSigned(dir, 'root');
  const ca = (name: string, o: Parameters<typeof signedCa>[3] = {}, issuer = root) => signedCa(dir, name, issuer, { days: 3, ...o });
  const rootWith = (name: string, extension: string, subject?: string) => selfSigned(dir, name, { extensions: [...CA_EXTENSIONS, extension], ...(subject ? { subject } : {}) });
  const facts = (files: KeyPairFiles) => readCertificate(new X509Certificate(readFileSync(files.cert)).raw);
  /** A certificate signedCa made earlier in this directory, by its name. */
  const signedCaFile = (name: string): KeyPairFiles => ({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) });
  const leafUnder = (issuer: KeyPairFiles) =>
    ca(`leaf-${basename(issuer.cert, '.pem')}`, { basicConstraints: 'critical,CA:FALSE', keyUsage: 'digitalSignature', authorityKeyIdentifier: 'keyid,issuer', uris: ['spiffe://example.org/w'] }, issuer);
  /** caPathProblem on a path (bottom first: an intermediate and its root, or a root alone, imported with its key, that signs the leaf), and openssl verify of a leaf under it. */
  const judged = (chain: KeyPairFiles[]) => {
    const problem = path(chain.map(facts), chain.length === 1 ? 1 : 0, 'example.org');
    const run = verify({
      trusted: readFileSync(chain.at(-1)!.cert, 'utf8'),
      untrusted: chain.slice(0, -1).map((c) => readFileSync(c.cert, 'utf8')).join(''),
      leaf: readFileSync(leafUnder(chain[0]!).cert, 'utf8'),
      at: Math.floor(Date.now() / 1000),
    });
    return { problem, run };
  };
  const plain = () => [ca('plain'), root];
  const noAkiRoot = () => [rootWith('no-aki-root', 'authorityKeyIdentifier=none')];

  // Each row: a path out of form, the certificate named, and a variant of it that OpenSSL accepts.
  it.each<[string, () => KeyPairFiles[], string, () => KeyPairFiles[]]>([
    ['an intermediate without subjectKeyIdentifier', () => [ca('no-ski', { subjectKeyIdentifier: 'none' }), root], 'the imported', plain],
    ['an intermediate with a critical subjectKeyIdentifier', () => [ca('critical-ski', { subjectKeyIdentifier: 'critical,hash' }), root], 'the imported', plain],
    // The trust anchor, the last certificate of the path, needs no authorityKeyIdentifier.
    ['an intermediate without authorityKeyIdentifier; a root without one is accepted', () => [ca('no-aki', { authorityKeyIdentifier: 'none' }), root], 'the imported', () => {
      const [bare] = noAkiRoot();
      return [ca('under-no-aki-root', {}, bare), bare!];
    }],
    ['an intermediate with an authorityKeyIdentifier of issuer and serial', () => [ca('issuer-aki', { authorityKeyIdentifier: 'issuer:always' }), root], 'the imported', plain],
    ['an intermediate with a critical authorityKeyIdentifier', () => [ca('critical-aki', { authorityKeyIdentifier: 'critical,keyid' }), root], 'the imported', plain],
    // RFC 5280 wants name constraints critical; OpenSSL does not.
    ['an intermediate with an empty subject; one with non-critical name constraints is accepted', () => [ca('empty-subject', { subject: '/' }), root], 'the imported',
      () => [ca('name-constrained', { extensions: ['nameConstraints=permitted;URI:example.org'] }), root]],
    ['a version 2 intermediate; the version 3 one it was made from is accepted', () => [resigned(ca('v3'), root.key, 'version 2', join(dir, 'v2.pem')), root], 'the imported',
      () => [signedCaFile('v3'), root]],
    ['a root without subjectKeyIdentifier; one without authorityKeyIdentifier is accepted', () => [rootWith('no-ski-root', 'subjectKeyIdentifier=none')], 'the imported', noAkiRoot],
    ['a root with a critical subjectKeyIdentifier', () => [rootWith('critical-ski-root', 'subjectKeyIdentifier=critical,hash')], 'the imported', () => [root]],
    ['a root with a critical authorityKeyIdentifier', () => [rootWith('critical-aki-root', 'authorityKeyIdentifier=critical,keyid:always')], 'the imported', () => [root]],
    ['a root with a critical private extension; one with critical CRL distribution points is accepted', () => [rootWith('critical-private-root', '1.3.6.1.4.1.99999.1=critical,ASN1:NULL')],
      'the imported', () => [rootWith('critical-cdp-root', 'crlDistributionPoints=critical,URI:http://example.org/root.crl')]],
    ['an intermediate with a critical authorityInfoAccess; one with critical certificate policies is accepted',
      () => [ca('critical-aia', { extensions: ['authorityInfoAccess=critical,caIssuers;URI:http://example.org/root.crt'] }), root], 'the imported',
      () => [ca('critical-policies', { extensions: ['certificatePolicies=critical,2.5.29.32.0'] }), root]],
    ['a root with an empty name', () => [rootWith('empty-root', 'subjectKeyIdentifier=hash', '/')], 'the imported', () => [root]],
    ['a root carrying proxyCertInfo, even not critical', () => [rootWith('proxy-root', 'proxyCertInfo=language:id-ppl-anyLanguage')], 'the imported', () => [root]],
    ['an intermediate whose subjectAltName holds no name; one whose subjectAltName holds a URI is accepted', () => [ca('empty-san', { extensions: [EMPTY_SAN] }), root], 'the imported',
      () => [ca('uri-san', { extensions: ['subjectAltName=URI:spiffe://example.org'] }), root]],
    ['a root whose EC key spells out its curve', () => [selfSigned(dir, 'explicit-root', { explicitEcParameters: true })], 'the imported', () => [root]],
    ['a bundle root whose signature algorithms differ; the root as made is accepted', () => [ca('under-inner-algorithm-root'), resigned(root, root.key, 'inner signature algorithm', join(dir, 'inner-root.pem'))],
      'the root', () => [signedCaFile('under-inner-algorithm-root'), root]],
    // node:crypto and node-forge read such times; OpenSSL 3.0's X509_cmp_time takes only the DER forms, in every certificate of the path.
    ['a root whose validity is written without seconds', () => {
      const made = selfSigned(dir, 'no-seconds-root');
      return [resigned(made, made.key, 'validity without seconds', join(dir, 'no-seconds-root-resigned.pem'))];
    }, 'the imported', () => [root]],
    ['an intermediate whose validity is written without seconds', () => [resigned(ca('no-seconds'), root.key, 'validity without seconds', join(dir, 'no-seconds-resigned.pem')), root],
      'the imported', plain],
    ['a bundle root that holds an extension twice; the root as made is accepted', () => [ca('under-twice-root'), resigned(root, root.key, 'an extension twice', join(dir, 'twice-root.pem'))],
      'the root', () => [signedCaFile('under-twice-root'), root]],
  ])('fail/%s', (_name, refusedPath, named, acceptedPath) => {
    // The refused path first: an accepted variant may be the certificate it was made from.
    const { problem, run } = judged(refusedPath());
    const accepted = judged(acceptedPath());
    expect(accepted.problem).toBeUndefined();
    expect(accepted.run.code, accepted.run.output).toBe(0);
    expect(problem?.startsWith(`${named} `), problem).toBe(true);
    expect(run.code).not.toBe(0);
    for (const quoted of problem!.match(/"[^"]+"/g)!) expect(run.output).toContain(quoted.slice(1, -1));
  });
});
