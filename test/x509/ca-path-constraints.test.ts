/**
 * The constraints of a CA path meshca is to issue under, judged before it
 * does: every certificate a CA as -x509_strict wants one, no
 * pathLenConstraint exceeded (counted as RFC 5280 6.1.4 counts, meshca's own
 * intermediate included), and no name constraint that could exclude an SVID.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explicit, implicitConstructed, implicitPrimitive, oid, seq, set, smallInt, toDer, utf8, type Asn1 } from '../../src/x509/asn1.js';
import { OID } from '../../src/x509/oids.js';
import { caPathProblem, type PathFacts } from '../../src/x509/ca-path-constraints.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { selfSigned } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

/** A well-formed CA certificate's facts, changed by `o`. */
function ca(o: Partial<PathFacts> & { pathLen?: number } = {}): PathFacts {
  const { pathLen, ...rest } = o;
  return {
    basicConstraints: { critical: true, ca: true, pathLen },
    hasKeyUsage: true,
    signsCertificates: true,
    isSelfIssued: false,
    nameConstraintsDer: undefined,
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
