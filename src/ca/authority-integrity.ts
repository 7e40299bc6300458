/**
 * What opening the journal checks before the CA signs anything: that CA keys
 * are not there without their records, that no key sits in custody unrecorded,
 * and that the recorded authorities form a chain the CA can still stand on.
 */
import { CaIntegrityError } from '../errors.js';
import type { AuditStorePort } from './audit-service.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { isSpiffeUri } from './authority-factory.js';
import type { AuthoritySet, LoadedAuthority } from './authority-set.js';
import type { AuthoritySettings } from './lifecycle-context.js';
import { isValidAt } from './rotation.js';
import type { AuthorityRecord } from './model.js';
import type { InitialPki } from './pki-creation.js';
import type { KeyCustody, Logger, PkiOrigin } from './ports.js';

/**
 * Refuses to create a PKI when custody already holds CA keys and the
 * datastore never began one: the records were lost (a deleted or replaced
 * database), and meshca never replaces an existing root on its own. Asked at
 * every start that finds no authorities, not only the one that created the
 * datastore: a refused start must not make the next one look like a first
 * start interrupted, whose keys would be set aside.
 */
export async function refuseKeysWithoutRecords(custody: KeyCustody, pkiBegun: boolean): Promise<void> {
  const orphans = await custody.list();
  if (!pkiBegun && orphans.length > 0) {
    throw new CaIntegrityError(
      `${custody.describe(orphans[0]!)} holds a CA key but the datastore never created a PKI: the CA's records were lost. ` +
        'Restore the datastore from backup; meshca never replaces an existing root on its own.',
    );
  }
}

/**
 * Refuses to make a root of meshca's own where a first start began to import
 * an organisation's root or intermediate and never finished (its import was
 * refused, or it was stopped): started again without the import options, the
 * CA would otherwise quietly become one the organisation's PKI does not vouch
 * for, trusted by nothing that trusts that PKI.
 */
export function refuseOwnRootAfterImportBegun(begun: PkiOrigin | undefined, initial: InitialPki): void {
  if (begun === 'import' && initial.kind === 'generate') {
    throw new CaIntegrityError(
      "the first start on this datastore began to import an organisation's root or intermediate (--import-*) and did not finish: " +
        'start again with the import options, or, for a CA that makes a root of its own, start on a new data directory (or an empty database)',
    );
  }
}

/**
 * A CA key no journal record names was, most likely, saved by a server killed
 * before it committed the record: it never signed anything anyone holds.
 * Left in custody it could sign, with no record or event naming it; it is set
 * aside instead (kept, in case the datastore was restored from an older backup).
 */
export async function setAsideUnreferencedKeys(custody: KeyCustody, log: Logger, records: readonly AuthorityRecord[]): Promise<void> {
  const moved = await custody.setAsideUnreferenced(new Set(records.flatMap((r) => (r.keyRef === null ? [] : [r.keyRef]))));
  if (moved.length) log.warn({ keys: moved }, 'set aside CA keys no record names (a server stopped while creating an authority, or a datastore older than its keys)');
}

/** Refuses to start on an expired root (unless a prepared root can take over), an authority whose certificate its parent did not sign, or another trust domain. */
export function checkIntegrity(set: AuthoritySet, now: number, { trustDomain, trustDomainSetting }: Pick<AuthoritySettings, 'trustDomain' | 'trustDomainSetting'>): void {
  const root = set.signingRoot();
  if (!root) throw new CaIntegrityError('the datastore has authorities but no active root');
  // A prepared root takes over from an expired one at start: at once when meshca holds its key (intermediate-rotation.ts),
  // an organisation's once the start names an intermediate issued under it (intermediate-import.ts, which says so otherwise).
  const successor = set.ofKind('root', 'prepared').find((r) => isValidAt(r.record, now));
  if (now >= root.record.notAfter && !successor) {
    throw new CaIntegrityError(
      `the root ${root.record.id} expired at ${new Date(root.record.notAfter * 1000).toISOString()}; ` +
        'restore a valid root, or start a new CA in a new data directory and re-register the workloads',
    );
  }
  for (const a of set.authorities) {
    if (a.record.state === 'retired' || !a.record.parentId) continue;
    const parent = set.byId(a.record.parentId);
    if (!parent || !a.facts.x509.verify(parent.facts.x509.publicKey)) {
      throw new CaIntegrityError(`the ${a.record.kind} ${a.record.id} is not signed by its recorded parent ${a.record.parentId}`);
    }
  }
  const other = signedForTrustDomains(set.authorities).find(({ uri }) => uri !== trustDomain.idString());
  if (other) {
    throw new CaIntegrityError(
      `this CA's ${other.a.record.kind} ${other.a.record.id} is for ${other.uri}, not the configured ${trustDomain.idString()}: ` +
        `a trust domain cannot change in place; keep the old ${trustDomainSetting}, or start a new CA in a new data directory and re-register the workloads`,
    );
  }
}

/**
 * The trust domain IDs (spiffe://<td>) the authorities meshca signs with carry,
 * each with its authority: the trust domain is in every certificate the CA
 * signs, so a start must name it again and changing the setting cannot move
 * them. (An organisation's roots, whose keys meshca does not hold,
 * may serve other trust domains too.)
 */
export function signedForTrustDomains(authorities: readonly LoadedAuthority[]): Array<{ readonly a: LoadedAuthority; readonly uri: string }> {
  return authorities
    .filter((a) => a.record.state !== 'retired' && a.signer !== null)
    .flatMap((a) => a.facts.uris.filter(isSpiffeUri).map((uri) => ({ a, uri })));
}

/** The audit event each start records, with the configuration it was given (its trust domain among it). */
export const CA_STARTED = 'ca.started';

/**
 * The trust domain (its name) the CA's last start was given, as its
 * ca.started event records it: for a plug-in CA whose certificates name
 * none, the only record of it.
 */
export async function startedTrustDomain(audit: Pick<AuditStorePort, 'latestEventData'>): Promise<string | undefined> {
  const name = (await audit.latestEventData(CA_STARTED))?.trustDomain;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Refuses a start given another trust domain than the start before it. The
 * authorities' own SPIFFE IDs catch this where they carry one (checkIntegrity);
 * a plug-in CA's imported intermediate often carries none, and without this it
 * would quietly issue SVIDs of another trust domain under the same keys.
 */
export function refuseChangedTrustDomain(started: string | undefined, configured: TrustDomain, trustDomainSetting: string): void {
  if (started === undefined || started === configured.name) return;
  throw new CaIntegrityError(
    `this CA was last started for trust domain ${started}, not the configured ${configured.name}: ` +
      `a trust domain cannot change in place; keep ${trustDomainSetting} ${started}, or start a new CA in a new data directory and re-register the workloads`,
  );
}

/** The trust domain (its name) a CA on these authorities must be started with; undefined when none it signs with names one. */
export function trustDomainNameOf(authorities: readonly LoadedAuthority[]): string | undefined {
  return signedForTrustDomains(authorities)[0]?.uri.replace(/^spiffe:\/\//i, '');
}
