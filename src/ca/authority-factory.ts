/** Making and loading signing authorities: key, certificate and the record that ties them. */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CaIntegrityError, ConflictError, InvalidInputError } from '../errors.js';
import { InvalidSpiffeIdError } from '../identity/errors.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import type { Duration } from '../time/duration.js';
import { parseDer } from '../x509/asn1.js';
import { caPathProblem, type PathCertificate } from '../x509/ca-path-constraints.js';
import { readCertificate, type CertificateFacts } from '../x509/certificate-reader.js';
import { signCertificate } from '../x509/certificate.js';
import { duplicateExtensionProblem } from '../x509/strict-ca-form.js';
import { generateKeyPair, kindOf, UnsupportedKeyError } from '../x509/keys.js';
import { caTemplate } from '../x509/profiles.js';
import { randomSerial } from '../x509/serial.js';
import type { RandomSource } from '../random/random-source.js';
import { KeyObjectSigner } from '../x509/signer.js';
import { issuedBy } from '../x509/issued-by.js';
import type { LoadedAuthority } from './authority-set.js';
import type { AuthorityKind, AuthorityRecord, AuthorityState } from './model.js';
import type { KeyCustody } from './ports.js';
import { isValidAt } from './rotation.js';
import { backdateFor } from './validity.js';
import { quotedText } from '../quoted-text.js';

export interface AuthorityFactoryDeps {
  readonly custody: KeyCustody;
  readonly random: RandomSource;
  readonly trustDomain: TrustDomain;
}

/**
 * Generates a key pair, certifies it (self-signed for a root, by `parent` for
 * an intermediate) and puts the key in custody. The returned authority is not
 * yet journaled: the caller records it before anyone uses it.
 */
export async function mintAuthority(
  deps: AuthorityFactoryDeps,
  kind: AuthorityKind,
  state: AuthorityState,
  now: number,
  ttl: Duration,
  parent?: LoadedAuthority,
): Promise<LoadedAuthority> {
  if (kind === 'intermediate' && !parent?.signer) throw new Error('an intermediate needs a parent that can sign');
  // Callers check first, with words for the operator; this keeps a certificate born invalid from ever being signed.
  if (parent && !isValidAt(parent.record, now)) {
    throw new ConflictError('precondition_failed', `the ${parent.record.kind} ${parent.record.id} is not valid now; it cannot sign`);
  }
  const keys = await generateKeyPair('ec-p256');
  const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const notAfter = parent ? Math.min(now + ttl, parent.record.notAfter) : now + ttl;
  const signer = new KeyObjectSigner(keys.privateKey);
  const der = await signCertificate(
    caTemplate({
      serial: randomSerial(deps.random),
      trustDomainId: deps.trustDomain.idString(),
      role: kind,
      spki,
      notBefore: now - backdateFor(ttl),
      notAfter,
      ...(parent ? { issuer: { subjectName: parent.facts.subjectName, keyId: parent.facts.keyId } } : {}),
    }),
    parent?.signer ?? signer,
  );
  const facts = readCertificate(der);
  const id = facts.keyId.toString('hex');
  await deps.custody.save(id, keys.privateKey);
  const record: AuthorityRecord = {
    id,
    kind,
    state,
    parentId: parent?.record.id ?? null,
    certDer: der,
    upstreamChainDer: [],
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    keyRef: id,
    createdAt: now,
    activatedAt: state === 'active' ? now : null,
    retiredAt: null,
    taintedAt: null,
  };
  return { record, facts, signer };
}

/**
 * Loads a journaled authority: its certificate and, unless it is retired or
 * meshca does not hold its key, the key, which must match the certificate.
 */
export async function loadAuthority(custody: KeyCustody, record: AuthorityRecord): Promise<LoadedAuthority> {
  let facts: CertificateFacts;
  try {
    facts = readCertificate(record.certDer);
  } catch (err) {
    throw new CaIntegrityError(`the ${record.kind} certificate ${record.id} in the datastore cannot be read: ${(err as Error).message}`);
  }
  if (record.keyRef === null) return { record, facts, signer: null };
  if (record.state === 'retired' && !(await custody.list()).includes(record.keyRef)) {
    // A retired authority's key may be destroyed once nothing it signed is live.
    return { record, facts, signer: null };
  }
  const key = await custody.load(record.keyRef);
  const publicDer = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!publicDer.equals(facts.x509.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new CaIntegrityError(
      `${custody.describe(record.keyRef)} does not match the ${record.kind} certificate ${record.id}: the key and certificate belong to different CAs`,
    );
  }
  return { record, facts, signer: new KeyObjectSigner(key) };
}

/** A CA certificate (and, when meshca is to sign with it, its key) supplied by an operator. */
export interface ImportedAuthority {
  readonly certDer: Buffer;
  readonly keyPem?: string;
  /** Certificates from the imported one up to (excluding) a trusted root, for an intermediate. */
  readonly chainDer?: readonly Buffer[];
}

/**
 * Checks and takes in custody an operator's CA: a root (self-signed, with its
 * key) or an intermediate signed by an organisation's root in `trustedRootsDer`
 * (with its key; the root's key is never needed). Throws InvalidInputError
 * saying what is wrong.
 *
 * `trustDomain` is the one this CA issues for: the imported certificate's
 * SPIFFE ID, if it has one, must be that trust domain's ID.
 *
 * The record has no parent (meshca did not sign it, and with an upstream
 * chain its issuer is no authority meshca keeps): AuthoritySet reads the root
 * it chains to from the certificates, for old data directories as for new.
 */
export async function importAuthority(
  custody: KeyCustody,
  imported: ImportedAuthority,
  kind: AuthorityKind,
  state: AuthorityState,
  now: number,
  trustedRoots: readonly CertificateFacts[],
  trustDomain: TrustDomain,
): Promise<LoadedAuthority> {
  return takeIntoCustody(custody, checkImport(imported, kind, now, trustedRoots, trustDomain), state, now);
}

/** An operator's CA that passed checkImport: its certificate read, its key (if given) parsed and matching it. */
export interface CheckedImport {
  readonly imported: ImportedAuthority;
  readonly kind: AuthorityKind;
  readonly facts: CertificateFacts;
  readonly key: KeyObject | undefined;
}

/** An operator's certificate, read, or refused (400) in words that name it (`what`): any of them may be what cannot be read. */
function readImported(der: Buffer, what: string): CertificateFacts {
  let facts: CertificateFacts;
  try {
    facts = readCertificate(der);
  } catch (err) {
    throw new InvalidInputError('invalid_request', `${what} cannot be read: ${(err as Error).message}`);
  }
  const duplicate = duplicateExtensionProblem(facts);
  if (duplicate) throw new InvalidInputError('invalid_request', `${what} ${duplicate}`);
  return facts;
}

/**
 * The checks of importAuthority, touching nothing: a caller with checks of its
 * own (intermediate-import.ts) makes them before the key goes into custody.
 * Without `trustDomain`, the certificate is an organisation's root meshca will
 * hold no key for, which may serve other trust domains as the roots of
 * --import-trust-bundle may: only the SPIFFE ID rules every CA follows apply.
 */
export function checkImport(
  imported: ImportedAuthority,
  kind: AuthorityKind,
  now: number,
  trustedRoots: readonly CertificateFacts[],
  trustDomain: TrustDomain | undefined,
): CheckedImport {
  const facts = readImported(imported.certDer, `the imported ${kind} certificate`);
  const x509 = facts.x509;
  const bad = (why: string) => new InvalidInputError('invalid_request', `the imported ${kind} certificate ${why}`);
  if (!facts.isCa) throw bad('is not a CA certificate (it needs basicConstraints cA=true and keyUsage keyCertSign)');
  // meshca signs a CRL with every key it holds, and OpenSSL (nginx, HAProxy) refuses CRLs from a key that may not sign them.
  if (imported.keyPem && !facts.signsCrls) throw bad('may not sign CRLs (its keyUsage lacks cRLSign), and meshca publishes a CRL for every CA key it holds');
  if (now < facts.notBefore || now >= facts.notAfter) throw bad(`is not valid now (valid ${x509.validFrom} to ${x509.validTo})`);
  const idProblem = signingSpiffeIdProblem(facts.uris, trustDomain);
  if (idProblem) throw bad(idProblem);
  if (kind === 'root' && !(x509.checkIssued(x509) && x509.verify(x509.publicKey))) throw bad('is not self-signed');
  const path: PathCertificate[] = [{ label: `the imported ${kind} certificate`, facts }];
  if (kind === 'intermediate') {
    if (x509.checkIssued(x509)) throw bad('is self-signed: import it as a root (--import-root-cert), not as an intermediate');
    const chainFacts = (imported.chainDer ?? []).map((d, i) => readImported(d, `certificate ${i + 1} of the supplied chain`));
    refuseSpiffeIdsWithPaths(chainFacts, 'a certificate of the supplied chain');
    refuseSpiffeIdsWithPaths(trustedRoots, 'a root of the supplied bundle');
    let child = x509;
    for (const link of chainFacts) {
      if (!issuedBy(child, link.x509)) throw bad('chain is broken: a certificate is not signed by the next');
      child = link.x509;
      path.push({ label: `certificate ${path.length} of the supplied chain (${subjectText(link)})`, facts: link });
    }
    // The same test by which AuthoritySet later finds the root it chains to (the record names no parent).
    const root = trustedRoots.find((r) => issuedBy(child, r.x509));
    if (!root) throw bad('does not chain to a root of the supplied bundle');
    path.push({ label: `the root of the supplied bundle it chains to (${subjectText(root)})`, facts: root });
  }
  // Signature checks never look at the constraints above, which every verifier of what meshca issues under them applies.
  const pathProblem = caPathProblem({ certificates: path, casBelow: belowImported(kind, imported), trustDomain: trustDomain?.name });
  if (pathProblem) throw new InvalidInputError('invalid_request', pathProblem);
  let key: KeyObject | undefined;
  if (imported.keyPem) {
    try {
      key = createPrivateKey(imported.keyPem);
    } catch {
      throw new InvalidInputError('invalid_request', `the ${kind} key is not a PEM private key (or is encrypted)`);
    }
    if (!createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(x509.publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new InvalidInputError('invalid_request', `the ${kind} key does not match its certificate`);
    }
    try {
      kindOf(key);
    } catch (err) {
      // Found here rather than by the signer made from it later, which would be a 500.
      if (err instanceof UnsupportedKeyError) throw new InvalidInputError('invalid_request', `the ${kind} key cannot sign here: ${err.message}`);
      throw err;
    }
  }
  return { imported, kind, facts, key };
}

/**
 * The CA certificates meshca will put under an imported one: none under an
 * intermediate (it signs leaves), its own intermediates under a root it holds
 * the key of, and none known yet under an organisation's root: the
 * intermediate imported under it later is checked against its path then.
 */
function belowImported(kind: AuthorityKind, imported: ImportedAuthority): number | undefined {
  if (kind === 'intermediate') return 0;
  return imported.keyPem ? 1 : undefined;
}

const subjectText = (facts: CertificateFacts) => facts.x509.subject.split('\n').join(', ');

/** Puts a checked import's key (if any) in custody and makes its record, not yet journaled. */
export async function takeIntoCustody(custody: KeyCustody, checked: CheckedImport, state: AuthorityState, now: number): Promise<LoadedAuthority> {
  const { imported, kind, facts, key } = checked;
  let signer = null;
  let keyRef: string | null = null;
  if (key) {
    signer = new KeyObjectSigner(key);
    keyRef = facts.keyId.toString('hex');
    await custody.save(keyRef, key);
  }
  const record: AuthorityRecord = {
    id: facts.keyId.toString('hex'),
    kind,
    state,
    parentId: null,
    certDer: imported.certDer,
    upstreamChainDer: imported.chainDer ?? [],
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    keyRef,
    createdAt: now,
    activatedAt: state === 'active' ? now : null,
    retiredAt: null,
    taintedAt: null,
  };
  return { record, facts, signer };
}

/** RFC 3986 3.1: schemes are case-insensitive, so "SPIFFE:" claims to be a SPIFFE ID too (and is not a valid one). */
export const isSpiffeUri = (uri: string): boolean => /^spiffe:/i.test(uri);

/**
 * Why the URI SANs of a signing certificate break X509-SVID 3.2, or
 * undefined: its SPIFFE ID, if present, "MUST NOT have a path component, and
 * SHOULD reside in the trust domain of any leaf SVIDs it issues" (enforced
 * when `trustDomain` is given: meshca issues only for its own). A certificate
 * has at most one SPIFFE ID (section 2). URIs of other schemes say nothing
 * about SPIFFE and are left alone, as SPIFFE validators do.
 */
function signingSpiffeIdProblem(uris: readonly string[], trustDomain: TrustDomain | undefined): string | undefined {
  const claimed = uris.filter(isSpiffeUri);
  if (claimed.length > 1) return `has ${claimed.length} SPIFFE IDs (${claimed.map((u) => quotedText(u)).join(', ')}); a signing certificate has at most one`;
  const [uri] = claimed;
  if (uri === undefined) return undefined;
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(uri);
  } catch (err) {
    if (!(err instanceof InvalidSpiffeIdError)) throw err;
    return `has the URI SAN ${quotedText(uri)}, which is not a valid SPIFFE ID: ${err.problem}`;
  }
  if (id.path !== '') return `has the SPIFFE ID ${quotedText(uri)}, which has a path; a signing certificate's SPIFFE ID must not (X509-SVID 3.2)`;
  if (trustDomain && !id.memberOf(trustDomain)) {
    return `has the SPIFFE ID ${quotedText(uri)}, outside this CA's trust domain: it must be ${trustDomain.idString()}`;
  }
  return undefined;
}

/**
 * The certificates above an imported one may belong to an organisation's PKI
 * serving several trust domains (X509-SVID 3.2 allows it), so only the MUSTs apply.
 */
function refuseSpiffeIdsWithPaths(certificates: readonly CertificateFacts[], which: string): void {
  for (const facts of certificates) {
    const problem = signingSpiffeIdProblem(facts.uris, undefined);
    if (problem) throw new InvalidInputError('invalid_request', `${which} ${problem}`);
  }
}

/** An organisation's root that meshca trusts but holds no key for (the parent of an imported intermediate). */
export function upstreamRoot(certDer: Buffer, now: number, state: 'active' | 'prepared' = 'active'): LoadedAuthority {
  const facts = readCertificate(certDer);
  return {
    record: {
      id: facts.keyId.toString('hex'),
      kind: 'root',
      state,
      parentId: null,
      certDer,
      upstreamChainDer: [],
      notBefore: facts.notBefore,
      notAfter: facts.notAfter,
      keyRef: null,
      createdAt: now,
      activatedAt: state === 'active' ? now : null,
      retiredAt: null,
      taintedAt: null,
    },
    facts,
    signer: null,
  };
}
