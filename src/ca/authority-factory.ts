/** Making and loading signing authorities: key, certificate and the record that ties them. */
import { createPublicKey } from 'node:crypto';
import { CaIntegrityError } from '../errors.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import type { Duration } from '../time/duration.js';
import { parseDer } from '../x509/asn1.js';
import { readCertificate, type CertificateFacts } from '../x509/certificate-reader.js';
import { signCertificate } from '../x509/certificate.js';
import { generateKeyPair } from '../x509/keys.js';
import { caTemplate } from '../x509/profiles.js';
import { randomSerial, type RandomSource } from '../x509/serial.js';
import { KeyObjectSigner } from '../x509/signer.js';
import type { LoadedAuthority } from './authority-set.js';
import type { AuthorityKind, AuthorityRecord, AuthorityState } from './model.js';
import type { KeyCustody } from './ports.js';
import { BACKDATE_SECONDS } from './validity.js';

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
      notBefore: now - BACKDATE_SECONDS,
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
  if (record.keyRef === null || record.state === 'retired') return { record, facts, signer: null };
  const key = await custody.load(record.keyRef);
  const publicDer = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!publicDer.equals(facts.x509.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new CaIntegrityError(
      `${custody.describe(record.keyRef)} does not match the ${record.kind} certificate ${record.id}: the key and certificate belong to different CAs`,
    );
  }
  return { record, facts, signer: new KeyObjectSigner(key) };
}
