/**
 * Holding the issued-certificate records to the audit chain. The listings an
 * auditor reads (`cert list`, `identity list`) come from the certificates
 * table, which has no hashes of its own; each record is committed in the same
 * transaction as its `certificate.issued` event. So a record must match the
 * event it was committed with, and its certificate must say what the record
 * says; a record may be missing only when a later `certificates.pruned` event
 * removed it; and no record may exist without its event.
 *
 * Records are walked in id order next to the events in sequence order: both
 * follow commit order (a record and its event commit together), so the next
 * record is the current event's unless that one was pruned, or the table was
 * changed. Nothing grows with the size of the log but the list of prunings.
 *
 * Ids are walked from 1: a record whose id no issuance gives (below 1, or
 * beyond 2^53 - 1, where ids stop being exact JavaScript numbers and so the
 * walk's bounds) is looked for once before the walk and named at the first
 * issuance event, where its id puts it in commit order.
 *
 * A `certificates.revoked` event says that every record its selector matched,
 * issued before it and unexpired then, was revoked by then: a record cleared
 * of its revocation afterwards (which takes it off the CRL) no longer fits.
 * "By then" is by the latest event time the chain has reached, not by this
 * event's own: event times follow clocks, not the chain (replicas' clocks
 * differ, a revocation takes its time before the audit lock, a host's clock
 * is stepped back), so a record an earlier event revoked may carry a later
 * time than a following event that selects it too.
 */
import { readIssuedFacts } from '../x509/certificate-reader.js';
import { eventObject, type StoredEvent } from './audit-verifier.js';
import { leastNotAfterRevoked } from './expiry.js';
import { CERTIFICATE_HASH, ISSUANCE_EVENT, ISSUED_AT, issuanceEventData, sha256Hex } from './issuance-event.js';
import type { IssuedCertificateRecord } from './model.js';

/**
 * A certificate record as stored, every column the issuance event or its
 * certificate speaks for; `kind` is whatever text the table holds.
 */
export type StoredCertificate = Omit<IssuedCertificateRecord, 'kind'> & { readonly id: number; readonly kind: string };

/** A `certificates.pruned` event: every record that expired before `expiredBefore` was removed. */
export interface Pruning {
  readonly seq: number;
  /** The event's own time. */
  readonly at: number;
  readonly expiredBefore: number;
}

/** A record whose id no issuance gives; the id as the datastore's text, exact at any size. */
export interface StrayRecord {
  readonly serial: string;
  readonly id: string;
}

/** How a datastore lets the verifier read its certificate records. */
export interface CertificateRecords {
  /** The highest record id now; records committed later are checked only if their event is reached. */
  lastId(): Promise<number>;
  /** A record the walk by id would never reach: an id below 1, above 2^53 - 1, missing, or not an integer. */
  stray(): Promise<StrayRecord | undefined>;
  /** A serial two records hold, of which a lookup by serial would see one. */
  sharedSerial(): Promise<string | undefined>;
  /** Records with id at most `upToId`, in id order, read lazily. */
  inOrder(upToId: number): AsyncIterable<StoredCertificate>;
  bySerial(serial: string): Promise<StoredCertificate | undefined>;
  /** The seq of a `certificate.issued` event after `seq` that names `serial`, if the log holds one. */
  issuedAfter(serial: string, seq: number): Promise<number | undefined>;
  /** The pruning events as stored, in sequence order (the chain walk checks that they are genuine). */
  prunings(): Promise<Pruning[]>;
  /**
   * The first record with id at most `upToId` that `selector` matches, whose
   * notAfter is at least `leastNotAfter` (it had not expired when revoked, as
   * leastNotAfterRevoked says) and yet is not revoked at or before `revokedBy`.
   */
  notRevoked(selector: RevokedSelector, leastNotAfter: number, revokedBy: number, upToId: number): Promise<string | undefined>;
}

/** What a `certificates.revoked` event names: one column's value, agents' own SVIDs perhaps excepted. */
export interface RevokedSelector {
  readonly column: 'serial' | 'spiffe_id' | 'agent' | 'issuer_id';
  readonly value: string;
  readonly exceptAgentSvids: boolean;
}

/** The type of the event that records a revocation (audit-revocations.ts holds the revoked records to it too). */
export const REVOCATION_EVENT = 'certificates.revoked';
/** The type of the event that records a pruning of expired certificate records. */
export const PRUNING_EVENT = 'certificates.pruned';

export class CertificateRecordCheck {
  private cursor!: AsyncIterator<StoredCertificate>;
  private next: StoredCertificate | undefined;
  private lastId = 0;
  /** A problem of the table as a whole, found before the walk and named at its first issuance event. */
  private stray: string | undefined;
  /** The highest id of a record whose issuance event the walk has passed. */
  private issuedUpTo = 0;
  private prunings: Pruning[] = [];
  /** The latest event time the walk has reached: no record was revoked later than that by then. */
  private latestAt = -Infinity;

  private constructor(private readonly records: CertificateRecords) {}

  static async start(records: CertificateRecords): Promise<CertificateRecordCheck> {
    const check = new CertificateRecordCheck(records);
    const stray = await records.stray();
    const shared = await records.sharedSerial();
    check.stray = stray ? strayRecord(stray) : shared ? `two certificate records hold serial ${shared}: one was inserted` : undefined;
    check.lastId = await records.lastId();
    check.prunings = await records.prunings();
    check.cursor = records.inOrder(check.lastId)[Symbol.asyncIterator]();
    await check.advance();
    return check;
  }

  /** The problem with the records of an event whose hash already verified, if any. */
  async event(e: StoredEvent): Promise<string | undefined> {
    this.latestAt = Math.max(this.latestAt, e.at);
    if (e.type === REVOCATION_EVENT) return this.revocation(e);
    if (e.type !== ISSUANCE_EVENT) return undefined;
    if (this.stray) return this.stray;
    const data = eventObject(e);
    if (!data) return dataAltered(e);
    const serial = String(data.serial);
    const where = `the record of certificate ${serial} (issued in event ${e.seq})`;
    if (this.next?.serial === serial) {
      const record = this.next;
      await this.advance();
      this.issuedUpTo = Math.max(this.issuedUpTo, record.id);
      return mismatch(record, e, data, where);
    }
    const record = await this.records.bySerial(serial);
    if (!record) return (await this.pruned(e.seq, Number(data.notAfter))) ? undefined : `${where} is missing and no pruning event removed it: it was deleted`;
    // Committed after the walk began (a running CA): not in the snapshot of ids, but its event was reached.
    if (record.id > this.lastId) {
      this.issuedUpTo = Math.max(this.issuedUpTo, record.id);
      return mismatch(record, e, data, where);
    }
    if (this.next && this.next.id < record.id) return this.before(this.next, record, e.seq, where);
    return `${where} is out of commit order (id ${record.id}): records were renumbered or an issuance event duplicated`;
  }

  private async revocation(e: StoredEvent): Promise<string | undefined> {
    const data = eventObject(e);
    if (!data) return dataAltered(e);
    const selector = revokedSelector(data);
    if (!selector || Number(data.count) === 0) return undefined;
    const serial = await this.records.notRevoked(selector, leastNotAfterRevoked(data, e.at), this.latestAt, this.issuedUpTo);
    return serial && `the record of certificate ${serial} is not revoked, but event ${e.seq} revoked it: its revocation was removed`;
  }

  /**
   * `next` comes before the record of event `seq` in id order, yet its event
   * did not come first: inserted, or, if its event comes later, renumbered.
   * Both fail; the later event, not yet verified, only chooses the words.
   */
  private async before(next: StoredCertificate, record: StoredCertificate, seq: number, where: string): Promise<string> {
    const later = await this.records.issuedAfter(next.serial, seq);
    if (later === undefined) return inserted(next);
    return `${where} has id ${record.id}, after certificate record ${next.serial} (id ${next.id}), which was issued later, in event ${later}: ` +
      'the records are out of commit order (renumbered)';
  }

  /** The highest id of a record whose issuance event the walk has passed: those after it were not yet issued. */
  get issuedThrough(): number {
    return this.issuedUpTo;
  }

  /** After the last event: any record left had no event. */
  finish(): string | undefined {
    if (this.stray) return this.stray;
    return this.next ? inserted(this.next) : undefined;
  }

  private async advance(): Promise<void> {
    const step = await this.cursor.next();
    this.next = step.done ? undefined : step.value;
  }

  /**
   * Whether a pruning after event `seq` removed a record that expired at
   * `notAfter`. A pruning removes only records already expired when it ran:
   * one that claims a horizon past its own time covers only what had expired
   * by then. (Its time is only as trustworthy as the event: see the README on
   * events past the last signed checkpoint.)
   */
  private async pruned(seq: number, notAfter: number): Promise<boolean> {
    const covers = (list: Pruning[]) => list.some((p) => p.seq > seq && notAfter < Math.min(p.expiredBefore, p.at));
    if (covers(this.prunings)) return true;
    // A running CA may have pruned since the walk began.
    this.prunings = await this.records.prunings();
    return covers(this.prunings);
  }
}

/** The pruning recorded by an event, for datastores reading prunings back. */
export function pruningOf(e: Pick<StoredEvent, 'seq' | 'at' | 'dataJson'>): Pruning {
  return { seq: e.seq, at: e.at, expiredBefore: Number(eventObject(e)?.['expiredBefore']) };
}

function dataAltered(e: StoredEvent): string {
  return `event ${e.seq} (${e.type}) names no certificate: its data was altered`;
}

/** What a revocation event selected; undefined when it names no column. */
export function revokedSelector(data: Record<string, unknown>): RevokedSelector | undefined {
  const exceptAgentSvids = data.exceptAgentSvids === true;
  if (typeof data.serial === 'string') return { column: 'serial', value: data.serial, exceptAgentSvids };
  if (typeof data.spiffeId === 'string') return { column: 'spiffe_id', value: data.spiffeId, exceptAgentSvids };
  if (typeof data.agent === 'string') return { column: 'agent', value: data.agent, exceptAgentSvids };
  if (typeof data.issuerId === 'string') return { column: 'issuer_id', value: data.issuerId, exceptAgentSvids };
  return undefined;
}

function inserted(record: StoredCertificate): string {
  return `certificate record ${record.serial} (id ${record.id}) has no ${ISSUANCE_EVENT} event: it was inserted`;
}

function strayRecord(record: StrayRecord): string {
  return `certificate record ${record.serial} has id ${record.id}, which no issuance gives: it was inserted or renumbered`;
}

function mismatch(record: StoredCertificate, e: StoredEvent, data: Record<string, unknown>, where: string): string | undefined {
  const { [CERTIFICATE_HASH]: certificateHash, [ISSUED_AT]: issuedAt, ...expected } = issuanceEventData(record);
  for (const [field, value] of Object.entries(expected)) {
    if ((data[field] ?? null) !== value) return `${where} was altered: its ${field} does not match the event`;
  }
  if (e.actor !== record.requestedBy) return `${where} was altered: its requestedBy does not match the event's actor`;
  if (recordedOtherwise(data, ISSUED_AT, issuedAt)) return `${where} was altered: its issuedAt does not match the event`;
  // The certificate's own facts first, which say what changed; the hash, last, catches whatever they do not read.
  const problem =
    certificateMismatch(record) ??
    (recordedOtherwise(data, CERTIFICATE_HASH, certificateHash) ? 'its certificate is not the one issued (its SHA-256 does not match the event)' : undefined);
  return problem && `${where} was altered: ${problem}`;
}

/**
 * Whether the event records `field` with another value. Events written by
 * earlier builds lack the certificate's hash and issue time: their records
 * keep the checks of the other facts alone, so another certificate saying
 * the same facts, or another issue time, goes unnoticed for them.
 */
function recordedOtherwise(data: Record<string, unknown>, field: string, value: unknown): boolean {
  return Object.hasOwn(data, field) && data[field] !== value;
}

/** Whether the stored DER is the certificate the record describes. */
function certificateMismatch(record: StoredCertificate): string | undefined {
  let facts;
  try {
    facts = readIssuedFacts(record.certDer);
  } catch {
    return 'its certificate is not a readable X.509 certificate';
  }
  if (facts.serialHex !== record.serial) return "its certificate's serial does not match the event";
  if (facts.notBefore !== record.notBefore || facts.notAfter !== record.notAfter) return "its certificate's validity does not match the event";
  if (facts.uris.length !== 1 || facts.uris[0] !== record.spiffeId) return "its certificate's SPIFFE ID does not match the event";
  if (sha256Hex(facts.spkiDer) !== record.publicKeySha256) return "its certificate's public key does not match the event";
  if (facts.dnsNames.length !== record.dnsNames.length || facts.dnsNames.some((d, i) => d !== record.dnsNames[i])) return 'its DNS names do not match its certificate';
  return undefined;
}
