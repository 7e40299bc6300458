/**
 * The constraints a CA path puts on everything issued under it, checked
 * before meshca signs under the path rather than found by every relying
 * party's verifier afterwards. A path that passes these is one OpenSSL's
 * `verify -x509_strict` accepts, as far as the CA certificates' own
 * constraints go: each is a CA (RFC 5280 4.2.1.9, 4.2.1.3, with the
 * criticality and keyUsage that -x509_strict requires) in the form
 * -x509_strict wants every certificate of a chain in (strict-ca-form.ts),
 * no pathLenConstraint is exceeded (6.1.4), and no name constraint excludes
 * what meshca issues (4.2.1.10), as OpenSSL or Go's crypto/x509 (under SPIRE
 * and go-spiffe) reads it: the two differ, and an SVID either refuses is broken.
 * Nor is any key of the path weaker than TLS peers take (security-level.ts).
 */
import { Asn1ParseError, children, is, parseDer, Tag, TagClass, toDer, valueBytes, type Asn1 } from './asn1.js';
import type { CertificateFacts } from './certificate-reader.js';
import { goFormProblem, type GoFormFacts } from './go-ca-form.js';
import { parseIpAddress } from './ip-address.js';
import { securityLevelProblem } from './security-level.js';
import { strictFormProblem, type FormFacts } from './strict-ca-form.js';

export type PathFacts = Pick<CertificateFacts, 'basicConstraints' | 'hasKeyUsage' | 'signsCertificates' | 'isSelfIssued' | 'nameConstraintsDer'> & FormFacts & GoFormFacts;

/** One certificate of a path, with the words that name it in a refusal ("certificate 1 of the supplied chain (CN=...)"). */
export interface PathCertificate {
  readonly label: string;
  readonly facts: PathFacts;
}

export interface CaPath {
  /** Bottom first: the CA meshca signs with (or makes its intermediate under), then each issuer up to the trust anchor. */
  readonly certificates: readonly PathCertificate[];
  /**
   * CA certificates meshca will put below the first one: 0 under an
   * intermediate that signs leaves, 1 under a root it makes its intermediates
   * under; undefined when not known yet (a root whose intermediates come later).
   */
  readonly casBelow: number | undefined;
  /**
   * The trust domain name whose SPIFFE IDs meshca issues under the path; undefined
   * when the path may serve several (an organisation's root), and then only
   * URI name constraints are accepted, whatever they permit.
   */
  readonly trustDomain: string | undefined;
}

/** Why SVIDs issued under `path` would fail path validation, or undefined. */
export function caPathProblem(path: CaPath): string | undefined {
  const anchor = path.certificates.length - 1;
  for (const [i, { label, facts }] of path.certificates.entries()) {
    const problem =
      caProblem(facts) ??
      strictFormProblem(facts, i === anchor) ??
      goFormProblem(facts, i === anchor) ??
      securityLevelProblem(facts) ??
      nameConstraintsProblem(facts.nameConstraintsDer, path.trustDomain);
    if (problem) return `${label} ${problem}`;
    const issuer = path.certificates[i + 1];
    if (issuer && !toDer(facts.issuerName).equals(toDer(issuer.facts.subjectName))) {
      return `${label} names its issuer in other bytes than ${issuer.label}'s subject name (another string type, case or spacing): OpenSSL compares names canonically and finds it, Go's crypto/x509 (under SPIRE and go-spiffe) compares their bytes and does not ("x509: certificate signed by unknown authority")`;
    }
  }
  return pathLengthProblem(path);
}

function caProblem(facts: PathFacts): string | undefined {
  const bc = facts.basicConstraints;
  if (!bc?.ca) return 'is not a CA certificate: it needs basicConstraints cA=true';
  if (!bc.critical) return 'has a basicConstraints extension that is not critical, and strict verifiers (openssl verify -x509_strict) refuse such a CA';
  if (!facts.hasKeyUsage) return 'has no keyUsage extension, and strict verifiers (openssl verify -x509_strict) refuse a CA without one';
  if (!facts.signsCertificates) return 'may not sign certificates: its keyUsage lacks keyCertSign';
  return undefined;
}

/**
 * RFC 5280 6.1.4 (l), (m): each pathLenConstraint bounds the CA certificates
 * below it in the path, self-issued ones (key rollovers) not counted, down
 * to those meshca adds; the leaf never counts.
 */
function pathLengthProblem(path: CaPath): string | undefined {
  if (path.casBelow === undefined) return undefined;
  const added = path.casBelow === 0 ? '' : `, counting ${path.casBelow === 1 ? 'the intermediate' : `the ${path.casBelow} CAs`} meshca makes under ${path.certificates[0]!.label}`;
  let below = path.casBelow;
  for (const { label, facts } of path.certificates) {
    const limit = facts.basicConstraints?.pathLen;
    if (limit !== undefined && below > limit) {
      return `${label} has pathLenConstraint ${limit}, which allows ${cas(limit)} below it, and there would be ${below}${added}: every SVID issued under it would fail verification (RFC 5280 6.1.4)`;
    }
    if (!facts.isSelfIssued) below++;
  }
  return undefined;
}

const cas = (n: number) => (n === 0 ? 'no CA certificate' : n === 1 ? '1 CA certificate' : `${n} CA certificates`);

/** GeneralName choices (RFC 5280 4.2.1.6), as a refusal names them. */
const NAME_FORMS: Record<number, string> = {
  0: 'otherName', 1: 'email (rfc822Name)', 2: 'DNS', 3: 'x400Address', 4: 'directoryName', 5: 'ediPartyName', 6: 'URI', 7: 'IP address', 8: 'registeredID',
};
const URI = 6;

interface Subtree {
  readonly kind: 'permitted' | 'excluded';
  readonly form: number;
  /** An IA5String base as text; other forms only say what they are. */
  readonly base: string | undefined;
  readonly bounded: boolean;
}

/**
 * Name constraints apply to every certificate below, SVIDs and the CA's
 * serving certificate included. URI ones can be judged here, against the
 * trust domain every SPIFFE ID meshca issues is in; the DNS names, IP
 * addresses and subjects those certificates carry are chosen by entries and
 * configuration later, so a constraint on them would fail some of them.
 */
function nameConstraintsProblem(der: Buffer | undefined, trustDomain: string | undefined): string | undefined {
  if (der === undefined) return undefined;
  let subtrees: Subtree[];
  try {
    subtrees = readNameConstraints(der);
  } catch (err) {
    if (!(err instanceof Asn1ParseError)) throw err;
    return `has a nameConstraints extension that cannot be read: ${err.message}`;
  }
  for (const s of subtrees) {
    const what = `${s.kind} ${NAME_FORMS[s.form] ?? `[${s.form}]`} subtree${s.base === undefined ? '' : ` ${JSON.stringify(s.base)}`}`;
    if (s.form !== URI) {
      return `has a name constraint on names other than URIs (${what}); meshca accepts URI name constraints only, as it cannot know every DNS name, IP address or subject its entries and the CA's serving certificate will carry`;
    }
    // RFC 5280 4.2.1.10: minimum MUST be zero and maximum absent; OpenSSL refuses any other.
    if (s.bounded) return `has a name constraint with a minimum or maximum (${what}), which RFC 5280 forbids and verifiers refuse`;
    if (!goReads(s.base!)) {
      return `has a URI name constraint Go's crypto/x509 cannot read as a host (${what}): Go, under SPIRE and go-spiffe, refuses every certificate below it`;
    }
    // Go refuses to parse the CA itself ("x509: failed to parse URI constraint ...: cannot be IP address"), so every chain through it.
    if (isIpAddress(s.base!)) {
      return `has a URI name constraint that is an IP address (${what}), which Go's crypto/x509 (under SPIRE and go-spiffe) refuses ("cannot be IP address"), and with it every certificate below`;
    }
  }
  if (trustDomain === undefined) return undefined;
  // OpenSSL's reading of a permitted subtree is the narrower one: a host it permits, Go permits too.
  const permitted = subtrees.filter((s) => s.kind === 'permitted');
  if (permitted.length && !permitted.some((s) => opensslHostMatches(trustDomain, s.base!))) {
    return `permits URIs only under ${permitted.map((s) => JSON.stringify(s.base)).join(', ')}, which excludes the trust domain ${trustDomain} (a URI name constraint is a host: "${trustDomain}" itself, or ".parent" for its subdomains)`;
  }
  // An excluded subtree must miss the trust domain in both readings: Go's excludes more.
  const excludedByOpenssl = subtrees.find((s) => s.kind === 'excluded' && opensslHostMatches(trustDomain, s.base!));
  if (excludedByOpenssl) return `excludes URIs under ${JSON.stringify(excludedByOpenssl.base)}, which holds the trust domain ${trustDomain}`;
  const excludedByGo = subtrees.find((s) => s.kind === 'excluded' && goHostMatches(trustDomain, s.base!));
  if (excludedByGo) {
    return `excludes URIs under ${JSON.stringify(excludedByGo.base)}, which holds the trust domain ${trustDomain} as Go's crypto/x509 (under SPIRE and go-spiffe) reads it: a base without a leading period covers its subdomains too, and an empty one every host`;
  }
  return undefined;
}

/**
 * Whether a URI's host falls under a URI name constraint's base (RFC 5280
 * 4.2.1.10, as OpenSSL matches it): case-insensitively the same host, or,
 * for a base starting with a period, any host ending with it ("prod.example.org"
 * under ".example.org"; "example.org" is not).
 */
function opensslHostMatches(host: string, base: string): boolean {
  const h = host.toLowerCase();
  const b = base.toLowerCase();
  return b.startsWith('.') ? h.length > b.length && h.endsWith(b) : h === b;
}

/**
 * The same as Go's crypto/x509 matches it (matchDomainConstraint, NSS's
 * reading): an empty base covers every host; a base covers itself and its
 * subdomains ("example.org" covers "prod.example.org"), and one with a
 * leading period its subdomains only.
 */
function goHostMatches(host: string, base: string): boolean {
  if (base === '') return true;
  const subdomainsOnly = base.startsWith('.');
  const constraint = reversedLabels(subdomainsOnly ? base.slice(1) : base);
  const labels = reversedLabels(host);
  if (constraint === undefined || labels === undefined) return false;
  if (labels.length < constraint.length || (subdomainsOnly && labels.length === constraint.length)) return false;
  return constraint.every((label, i) => label.toLowerCase() === labels[i]!.toLowerCase());
}

/** Whether a URI constraint's base is an IP address as Go's net.ParseIP reads one (dotted decimal without leading zeros, or IPv6). */
function isIpAddress(base: string): boolean {
  try {
    parseIpAddress(base);
    return true;
  } catch {
    return false;
  }
}

/** Whether Go can read a base as a domain at all; with one it cannot, it fails every certificate the constraint applies to. */
function goReads(base: string): boolean {
  return reversedLabels(base.startsWith('.') ? base.slice(1) : base) !== undefined;
}

/** A domain's labels, last first, or undefined where one is empty or holds a character outside printable ASCII (as Go's domainToReverseLabels). */
function reversedLabels(domain: string): string[] | undefined {
  if (domain === '') return [];
  const labels = domain.split('.').reverse();
  return labels.every((label) => /^[\x21-\x7e]+$/.test(label)) ? labels : undefined;
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, excludedSubtrees [1] GeneralSubtrees OPTIONAL }. */
function readNameConstraints(der: Buffer): Subtree[] {
  const root = parseDer(der);
  if (!is(root, TagClass.UNIVERSAL, Tag.SEQUENCE)) throw new Asn1ParseError('expected a SEQUENCE');
  const subtrees: Subtree[] = [];
  for (const part of children(root)) {
    const kind = is(part, TagClass.CONTEXT_SPECIFIC, 0) ? 'permitted' : is(part, TagClass.CONTEXT_SPECIFIC, 1) ? 'excluded' : undefined;
    if (!kind) throw new Asn1ParseError('expected permittedSubtrees [0] or excludedSubtrees [1]');
    for (const subtree of children(part)) subtrees.push(readSubtree(kind, subtree));
  }
  return subtrees;
}

/** GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] BaseDistance DEFAULT 0, maximum [1] BaseDistance OPTIONAL }. */
function readSubtree(kind: Subtree['kind'], node: Asn1): Subtree {
  if (!is(node, TagClass.UNIVERSAL, Tag.SEQUENCE)) throw new Asn1ParseError('expected a GeneralSubtree');
  const [base, ...bounds] = children(node);
  if (!base || base.tagClass !== TagClass.CONTEXT_SPECIFIC) throw new Asn1ParseError('expected a GeneralName');
  const text = base.type === URI || base.type === 1 || base.type === 2 ? valueBytes(base).toString('latin1') : undefined;
  return { kind, form: base.type, base: text, bounded: bounds.length > 0 };
}
