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
 * A `certificates.revoked` event says that every record its selector matched,
 * issued before it and unexpired then, was revoked by then: a record cleared
 * of its revocation afterwards (which takes it off the CRL) no longer fits.
 * "By then" is by the latest event time the chain has reached, not by this
 * event's own: event times follow clocks, not the chain (replicas' clocks
 * differ, a revocation takes its time before the audit lock, a host's clock
 * is stepped back), so a record an earlier event revoked may carry a later
 * time than a following event that selects it too.
 */
import { createHash } from 'node:crypto';
import { readIssuedFacts } from '../x509/certificate-reader.js';
import type { StoredEvent } from './audit-verifier.js';
import { ISSUANCE_EVENT, issuanceEventData } from './issuance-event.js';
import type { IssuedCertificateRecord } from './model.js';

/**
 * A certificate record as stored, every column the issuance event or its
 * certificate speaks for; `kind` is whatever text the table holds.
 */
export type StoredCertificate = Omit<IssuedCertificateRecord, 'issuedAt' | 'kind'> & { readonly id: number; readonly kind: string };

/** A `certificates.pruned` event: every record that expired before `expiredBefore` was removed. */
export interface Pruning {
  readonly seq: number;
  readonly expiredBefore: number;
}

/** How a datastore lets the verifier read its certificate records. */
export interface CertificateRecords {
  /** The highest record id now; records committed later are checked only if their event is reached. */
  lastId(): Promise<number>;
  /** Records with id at most `upToId`, in id order, read lazily. */
  inOrder(upToId: number): AsyncIterable<StoredCertificate>;
  bySerial(serial: string): Promise<StoredCertificate | undefined>;
  /** The pruning events as stored, in sequence order (the chain walk checks that they are genuine). */
  prunings(): Promise<Pruning[]>;
  /**
   * The first record with id at most `upToId` that `selector` matches, that
   * had not expired at `at` and yet is not revoked at or before `revokedBy`.
   */
  notRevoked(selector: RevokedSelector, at: number, revokedBy: number, upToId: number): Promise<string | undefined>;
}

/** What a `certificates.revoked` event names: one column's value, agents' own SVIDs perhaps excepted. */
export interface RevokedSelector {
  readonly column: 'serial' | 'spiffe_id' | 'agent' | 'issuer_id';
  readonly value: string;
  readonly exceptAgentSvids: boolean;
}

const REVOKED = 'certificates.revoked';
/** The type of the event that records a pruning of expired certificate records. */
export const PRUNING_EVENT = 'certificates.pruned';

export class CertificateRecordCheck {
  private cursor!: AsyncIterator<StoredCertificate>;
  private next: StoredCertificate | undefined;
  private lastId = 0;
  /** The highest id of a record whose issuance event the walk has passed. */
  private issuedUpTo = 0;
  private prunings: Pruning[] = [];
  /** The latest event time the walk has reached: no record was revoked later than that by then. */
  private latestAt = -Infinity;

  private constructor(private readonly records: CertificateRecords) {}

  static async start(records: CertificateRecords): Promise<CertificateRecordCheck> {
    const check = new CertificateRecordCheck(records);
    check.lastId = await records.lastId();
    check.prunings = await records.prunings();
    check.cursor = records.inOrder(check.lastId)[Symbol.asyncIterator]();
    await check.advance();
    return check;
  }

  /** The problem with the records of an event whose hash already verified, if any. */
  async event(e: StoredEvent): Promise<string | undefined> {
    this.latestAt = Math.max(this.latestAt, e.at);
    if (e.type === REVOKED) return this.revocation(e);
    if (e.type !== ISSUANCE_EVENT) return undefined;
    const data = JSON.parse(e.dataJson) as Record<string, unknown>;
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
    if (this.next && this.next.id < record.id) return inserted(this.next);
    return `${where} is out of commit order (id ${record.id}): records were renumbered or an issuance event duplicated`;
  }

  private async revocation(e: StoredEvent): Promise<string | undefined> {
    const data = JSON.parse(e.dataJson) as Record<string, unknown>;
    const selector = revokedSelector(data);
    if (!selector || Number(data.count) === 0) return undefined;
    const serial = await this.records.notRevoked(selector, e.at, this.latestAt, this.issuedUpTo);
    return serial && `the record of certificate ${serial} is not revoked, but event ${e.seq} revoked it: its revocation was removed`;
  }

  /** After the last event: any record left had no event. */
  finish(): string | undefined {
    return this.next ? inserted(this.next) : undefined;
  }

  private async advance(): Promise<void> {
    const step = await this.cursor.next();
    this.next = step.done ? undefined : step.value;
  }

  /** Whether a pruning after event `seq` removed a record that expired at `notAfter`. */
  private async pruned(seq: number, notAfter: number): Promise<boolean> {
    const covers = (list: Pruning[]) => list.some((p) => p.seq > seq && notAfter < p.expiredBefore);
    if (covers(this.prunings)) return true;
    // A running CA may have pruned since the walk began.
    this.prunings = await this.records.prunings();
    return covers(this.prunings);
  }
}

/** The pruning recorded by an event, for datastores reading prunings back. */
export function pruningOf(e: Pick<StoredEvent, 'seq' | 'dataJson'>): Pruning {
  return { seq: e.seq, expiredBefore: Number((JSON.parse(e.dataJson) as { expiredBefore?: unknown }).expiredBefore) };
}

function revokedSelector(data: Record<string, unknown>): RevokedSelector | undefined {
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

function mismatch(record: StoredCertificate, e: StoredEvent, data: Record<string, unknown>, where: string): string | undefined {
  const expected = issuanceEventData(record);
  for (const [field, value] of Object.entries(expected)) {
    if ((data[field] ?? null) !== value) return `${where} was altered: its ${field} does not match the event`;
  }
  if (e.actor !== record.requestedBy) return `${where} was altered: its requestedBy does not match the event's actor`;
  const problem = certificateMismatch(record);
  return problem && `${where} was altered: ${problem}`;
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

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
