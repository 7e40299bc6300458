/**
 * The audit trail's operations: signing checkpoints of the head with the
 * active intermediate, and verifying the whole log against the authorities
 * (or roots an auditor pins).
 */
import { X509Certificate } from 'node:crypto';
import { RateLimitedError } from '../errors.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { readCertificate } from '../x509/certificate-reader.js';
import { issuedBy } from '../x509/issued-by.js';
import type { CertificateRecords } from './audit-certificates.js';
import type { RegistrationSnapshot } from './audit-registration.js';
import { signCheckpoint, type Checkpoint } from './audit-checkpoint.js';
import { isEventNumber, verifyAuditLog, type ExpectedHead, type StoredEvent, type VerificationInput, type VerificationResult } from './audit-verifier.js';
import { AuthoritySet, type LoadedAuthority } from './authority-set.js';
import { SELF } from './caller.js';
import type { AuditEvent, AuthorityRecord } from './model.js';
import type { AuthorityJournal } from './ports.js';

const CHECKPOINT_EVENT = 'audit.checkpoint';

export interface AuditStorePort {
  head(): Promise<{ seq: number; hash: string } | undefined>;
  /** Events in sequence order from `fromSeq`, or from the lowest row stored (at or after `sinceAt`), read lazily. */
  events(fromSeq?: number, sinceAt?: number): AsyncIterable<StoredEvent>;
  checkpoints(): Promise<Checkpoint[]>;
  /** The checkpoint of the highest seq (of two at one seq, the later stored); undefined before the first. */
  newestCheckpoint(): Promise<Checkpoint | undefined>;
  /** The data of the newest event of `type`, or undefined when the log holds none. */
  latestEventData(type: string): Promise<Record<string, unknown> | undefined>;
  /** Whether any event after `seq` is of another type than `except`. */
  hasEventsAfter(seq: number, except: string): Promise<boolean>;
  /** Stores a checkpoint and records it in the log itself, in one transaction. */
  saveCheckpoint(checkpoint: Checkpoint, event: AuditEvent): Promise<void>;
  /** Appends an event that is not part of another change (start-up, refusals, authentication failures). */
  append(event: AuditEvent): Promise<void>;
  /**
   * The issued-certificate records, so that verification holds them to their
   * issuance events. A store without it has only its log verified.
   */
  certificateRecords?(): CertificateRecords;
  /**
   * The agents, entries, join tokens and revoked certificate records with
   * the head's seq, in one read snapshot, so that verification holds them to
   * the log as it stood then. A store without it has them not held.
   */
  registrationSnapshot?(): Promise<RegistrationSnapshot>;
}

/** What an auditor brings to a verification. */
export interface VerifyOptions {
  /** Roots checkpoint signers must chain to (the auditor's own copy of the bundle); omitted, the roots the datastore records. */
  readonly pinnedRoots?: readonly X509Certificate[];
  /** The head an earlier verification printed, which the log must still hold. */
  readonly expectedHead?: ExpectedHead;
}

export class AuditService {
  private verifying = false;
  private lastWalkSeconds = 1;

  constructor(
    private readonly deps: { store: AuditStorePort; authorities: { current(): AuthoritySet; catchUp(): Promise<void> }; journal: AuthorityJournal; clock: Clock },
  ) {}

  /**
   * Signs the current head, unless the newest checkpoint already covers it
   * (then returns that one); with `force`, signs it whatever the newest covers.
   * `by` is who asked (an operator's label), recorded as the event's actor.
   */
  async checkpoint(force = false, by = SELF): Promise<Checkpoint | undefined> {
    const head = await this.deps.store.head();
    if (!head) return undefined;
    if (!force && !(await this.headIsNew())) return this.deps.store.newestCheckpoint();
    return this.sign(head, by);
  }

  /** The scheduled checkpoint: signs the head only if something but checkpoints came after the newest one; undefined when it did not. */
  async checkpointIfNew(): Promise<Checkpoint | undefined> {
    const head = await this.deps.store.head();
    return head && (await this.headIsNew()) ? this.sign(head) : undefined;
  }

  /**
   * A checkpoint's own event follows what it signed: were it counted, an idle CA would sign one at every run.
   * A newest one of no event (a row written into the datastore; SQLite sorts a text seq above every number)
   * covers nothing, and must not leave the events after it unsigned: verification names it.
   */
  private async headIsNew(): Promise<boolean> {
    const newest = await this.deps.store.newestCheckpoint();
    return !newest || !isEventNumber(newest.seq) || (await this.deps.store.hasEventsAfter(newest.seq, CHECKPOINT_EVENT));
  }

  /**
   * The signer is chosen after the head is read and other replicas' changes
   * adopted: a taint the head covers has been seen, so the checkpoint is never
   * signed by an intermediate the log it signs records as tainted
   * (verification refuses such a checkpoint).
   */
  private async sign(head: { seq: number; hash: string }, by = SELF): Promise<Checkpoint> {
    await this.deps.authorities.catchUp();
    const set = this.deps.authorities.current();
    const signer = set.signingIntermediate(nowSeconds(this.deps.clock));
    const checkpoint = await signCheckpoint({ seq: head.seq, hash: head.hash, at: nowSeconds(this.deps.clock) }, signer.signer, signer.record.id);
    await this.deps.store.saveCheckpoint(checkpoint, {
      type: CHECKPOINT_EVENT,
      actor: by,
      data: { seq: checkpoint.seq, hash: checkpoint.hash, signer: checkpoint.signerId, signature: checkpoint.signature },
    });
    return checkpoint;
  }

  /**
   * Verifies the chain, every checkpoint and, when the auditor brings one, the
   * head seen before. One at a time: each walks the whole log in this process,
   * yielding between slices, so that concurrent walks would share the event
   * loop among themselves and everyone else (64 of them held a health check
   * for 40 s) and hold a copy of the log's state each. Another caller is told
   * to come back after about as long as the last walk took.
   *
   * Options given as a function are read only once this walk may run: a
   * pinned bundle (up to 256 KiB of PEM, tens of milliseconds to parse) is
   * then never read for a caller turned away, so a flood of them costs no
   * more than their 429s.
   */
  async verify(options: VerifyOptions | (() => VerifyOptions) = {}): Promise<VerificationResult> {
    if (this.verifying) {
      throw new RateLimitedError(Math.max(1, Math.ceil(this.lastWalkSeconds)), 'an audit verification is already running on this CA, and they run one at a time');
    }
    this.verifying = true;
    try {
      const read = typeof options === 'function' ? options() : options;
      const started = this.deps.clock.nowMs();
      try {
        return await verifyStoredAudit(this.deps.journal, this.deps.store, read);
      } finally {
        // Not below 0: the clock may have been set back meanwhile.
        this.lastWalkSeconds = Math.max(0, this.deps.clock.nowMs() - started) / 1000;
      }
    } finally {
      this.verifying = false;
    }
  }
}

/**
 * Walks the chain, checks every checkpoint against the authorities the
 * datastore records (or pinned roots), holds the records to the log, and the
 * log to a head seen before. The authorities are the datastore's, not a
 * process's view of them: on a replica, a checkpoint another replica signed
 * with an intermediate it has just made must verify at once.
 */
export async function verifyStoredAudit(journal: AuthorityJournal, store: AuditStorePort, options: VerifyOptions = {}): Promise<VerificationResult> {
  // Checkpoints first: each was signed by an authority recorded before it, so the authorities read after are all their signers.
  const checkpoints = await store.checkpoints();
  const records = await journal.listAuthorities();
  return verifyAuditLog(verificationInput(store, new AuthoritySet(readableAuthorities(records), 0), options, journal, checkpoints, records));
}

/**
 * The records whose certificate reads, as checkpoint signers and roots. One
 * that no longer holds a certificate can vouch for nothing, and the walk
 * names it (its certificate is not the one its creation recorded): read here
 * it would fail the whole verification, naming nothing.
 */
function readableAuthorities(records: readonly AuthorityRecord[]): LoadedAuthority[] {
  return records.flatMap((record) => {
    try {
      return [{ record, facts: readCertificate(record.certDer), signer: null }];
    } catch {
      return [];
    }
  });
}

/**
 * What verification reads from a store (the log, the checkpoints read before
 * `set`, and, where the store has them, the certificate records) and what the
 * auditor brings.
 */
export function verificationInput(
  store: AuditStorePort,
  set: AuthoritySet,
  options: VerifyOptions,
  journal: AuthorityJournal,
  checkpoints: readonly Checkpoint[],
  records: readonly AuthorityRecord[],
): VerificationInput {
  return {
    events: store.events(),
    checkpoints,
    rereadCheckpoints: () => store.checkpoints(),
    signerCertificate: (id) => trustedSigner(set, id, options.pinnedRoots),
    // Recorded, whether or not its certificate still reads: one that does not is named as altered, not as deleted.
    signerRecorded: (id) => records.some((r) => r.id === id),
    certificates: store.certificateRecords?.(),
    expectedHead: options.expectedHead,
    // From the datastore, not this process's view: another replica's change may be in the log and not adopted here yet.
    authorityRecords: () => journal.listAuthorities(),
    registration: store.registrationSnapshot && (() => store.registrationSnapshot!()),
  };
}

/**
 * The signer's certificate if it is a trusted root, or is signed by one
 * through the chain recorded with it (an imported intermediate's upstream
 * chain: the organisation's certificates in between), each link verified.
 * Every certificate on the way must be a CA's, and the record's id its key
 * identifier: the records are the datastore's, and whoever can write it must
 * not make an SVID, whose key a workload holds, into a checkpoint signer.
 */
export function trustedSigner(set: AuthoritySet, id: string, pinnedRoots?: readonly X509Certificate[]): X509Certificate | undefined {
  const roots = pinnedRoots ?? set.ofKind('root').map((r) => r.facts.x509);
  const isRoot = (c: X509Certificate) => roots.some((r) => r.fingerprint256 === c.fingerprint256);
  const signer = set.byId(id);
  if (!signer || !signer.facts.isCa || signer.facts.keyId.toString('hex') !== id) return undefined;
  const cert = signer.facts.x509;
  if (isRoot(cert)) return cert;
  const imported = signer.record.kind === 'intermediate' && signer.record.parentId === null;
  const links = [cert, ...(imported ? upstreamCertificates(signer.record.upstreamChainDer) : [])];
  if (!links.every((c) => c?.ca)) return undefined;
  for (let i = 0; i + 1 < links.length; i++) if (!issuedBy(links[i]!, links[i + 1]!)) return undefined;
  const top = links.at(-1)!;
  return isRoot(top) || roots.some((root) => issuedBy(top, root)) ? cert : undefined;
}

/** An imported intermediate's recorded chain; a link that is no certificate (the records are the datastore's) as undefined, which chains to nothing. */
function upstreamCertificates(ders: readonly Buffer[]): (X509Certificate | undefined)[] {
  return ders.map((der) => {
    try {
      return new X509Certificate(der);
    } catch {
      return undefined;
    }
  });
}

