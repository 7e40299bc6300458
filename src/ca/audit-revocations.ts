/**
 * Holds every revoked certificate record (its time and reason, what the CRL
 * and `cert list` show) to the `certificates.revoked` event that revoked it.
 * A revocation updates the records its selector matches and appends its
 * event in one transaction, under the audit lock; so the event that revoked
 * a record is the first revocation event after the record's issuance whose
 * selector matches it while it was unexpired, and the record must carry that
 * event's time (`revokedAt`) and reason. A record revoked that no event
 * revoked, or revoked otherwise than its event says, was written around the
 * CA. (A revocation removed is found by audit-certificates.ts, which holds
 * each event to the records it selects.)
 *
 * Revoked records are read in the registration snapshot, with the head's
 * seq, and compared when the walk reaches that head: revocations committed
 * while the log is walked are no false alarm.
 *
 * Compatibility: events of builds before `revokedAt` was recorded have their
 * records' reasons held, not their times. Builds before evictions and bans
 * recorded what they revoked logged `agent.evicted`, `agent.banned` or
 * `agent.unbanned` alone: such an event (one not followed by its revocation
 * event) explains the agent's records revoked then, by reason only. Events
 * of builds before revocations applied through notAfter (expiry.ts) applied
 * only to records expiring after their time, and are held to that.
 */
import { eventObject, type StoredEvent } from './audit-verifier.js';
import { REVOCATION_EVENT, revokedSelector, type RevokedSelector } from './audit-certificates.js';
import type { Problem } from './audit-registration.js';
import { leastNotAfterRevoked } from './expiry.js';

/** What a revocation event records of the time it stamped into the records it revoked. */
export const REVOKED_AT = 'revokedAt';

/** A revoked certificate record as stored; the revocation's columns as whatever the datastore holds. */
export interface RevokedRecord {
  readonly id: number;
  readonly serial: string;
  readonly spiffeId: string;
  readonly agent: string | null;
  readonly issuerId: string;
  readonly kind: string;
  readonly notAfter: number;
  readonly revokedAt: unknown;
  readonly reason: unknown;
}

/**
 * The status events that revoked their agent's records before evictions and
 * bans recorded what they revoked, with the reasons builds gave those records:
 * the first builds (25 November 2026) wrote "agent " and the status.
 */
const SILENT_AGENT_REVOCATIONS: ReadonlyMap<string, readonly string[]> = new Map([
  ['agent.evicted', ['cessationOfOperation', 'agent evicted']],
  ['agent.banned', ['cessationOfOperation', 'agent banned']],
  ['agent.unbanned', ['cessationOfOperation', 'agent evicted']],
]);

const ALTERED = 'the revocation records were altered';

/** What problemOf says of a record no revocation applied to. */
const NO_EVENT = Symbol('no event revoked it');

interface Revocation {
  readonly seq: number;
  readonly type: string;
  readonly selector: RevokedSelector;
  /** The reasons a record it revoked may carry (the first named); none when the event records no reason. */
  readonly reasons: readonly unknown[];
  /** The time stamped into the records; undefined for events of earlier builds. */
  readonly revokedAt: number | undefined;
  /** The least notAfter of a record it applied to (leastNotAfterRevoked). */
  readonly leastNotAfter: number;
  /** The highest record id issued before it: records after it were not there to revoke. */
  readonly upToId: number;
  /** A status event of an earlier build's form that its revocation event turned out to follow (a current build's). */
  followed?: boolean;
}

export class RevocationRecordCheck {
  /** Per selector column and value, the revocations that name it, in seq order. */
  private readonly bySelector = new Map<string, Revocation[]>();
  private lastStatus: Revocation | undefined;

  /** Takes in one event of the log, with the highest record id issued so far. */
  event(e: StoredEvent, issuedUpTo: number): void {
    if (e.type !== REVOCATION_EVENT && !SILENT_AGENT_REVOCATIONS.has(e.type)) {
      this.lastStatus = undefined;
      return;
    }
    const data = eventObject(e);
    if (!data) return; // audit-certificates.ts names it.
    if (e.type === REVOCATION_EVENT) {
      const selector = revokedSelector(data);
      if (!selector) return;
      if (this.lastStatus?.seq === e.seq - 1 && selector.column === 'agent' && selector.value === this.lastStatus.selector.value) this.lastStatus.followed = true;
      const revokedAt = typeof data[REVOKED_AT] === 'number' ? data[REVOKED_AT] : undefined;
      this.add({ seq: e.seq, type: e.type, selector, reasons: 'reason' in data ? [data['reason']] : [], revokedAt, leastNotAfter: leastNotAfterRevoked(data, revokedAt ?? e.at), upToId: issuedUpTo });
      this.lastStatus = undefined;
      return;
    }
    if (typeof data['agent'] !== 'string') return;
    const selector: RevokedSelector = { column: 'agent', value: data['agent'], exceptAgentSvids: false };
    const reasons = SILENT_AGENT_REVOCATIONS.get(e.type)!;
    this.lastStatus = { seq: e.seq, type: e.type, selector, reasons, revokedAt: undefined, leastNotAfter: leastNotAfterRevoked(data, e.at), upToId: issuedUpTo };
    this.add(this.lastStatus);
  }

  /**
   * The first revoked record (lowest event) that the log does not account
   * for, as the log stands after the snapshot's head; a record no event
   * revoked is named at the event after the head.
   */
  compare(records: readonly RevokedRecord[], headSeq: number): Problem | undefined {
    const problems: Problem[] = [];
    for (const record of records) {
      const problem = this.problemOf(record);
      if (problem === NO_EVENT) {
        problems.push({
          seq: headSeq + 1,
          reason: `certificate record ${record.serial} is recorded as revoked (at ${show(record.revokedAt)}, ${show(record.reason)}), but no event of the log revoked it: ${ALTERED}`,
        });
      } else if (problem) {
        problems.push(problem);
      }
    }
    return problems.reduce<Problem | undefined>((first, p) => (first && first.seq <= p.seq ? first : p), undefined);
  }

  /**
   * What is wrong with a revoked record, held to the first revocation that
   * applied to it. A status event of an earlier build's form may not have
   * revoked anything (the first builds' bans did not): one whose reasons the
   * record does not carry gives way to the next revocation that applied.
   */
  private problemOf(record: RevokedRecord): Problem | typeof NO_EVENT | undefined {
    let skipped: Revocation | undefined;
    for (const revocation of this.applying(record)) {
      const reasonHeld = revocation.reasons.length === 0 || revocation.reasons.includes(record.reason);
      if (revocation.revokedAt === undefined && revocation.type !== REVOCATION_EVENT && !reasonHeld) {
        skipped ??= revocation;
        continue;
      }
      return mismatch(record, revocation, reasonHeld);
    }
    return skipped ? mismatch(record, skipped, false) : NO_EVENT;
  }

  private add(revocation: Revocation): void {
    const key = selectorKey(revocation.selector.column, revocation.selector.value);
    const list = this.bySelector.get(key);
    if (list) list.push(revocation);
    else this.bySelector.set(key, [revocation]);
  }

  /** The revocations that applied to `record` as the store applies one (the first revoked it), in seq order. */
  private applying(record: RevokedRecord): Revocation[] {
    const values = [['serial', record.serial], ['spiffe_id', record.spiffeId], ['agent', record.agent], ['issuer_id', record.issuerId]] as const;
    const applied = values.flatMap(([column, value]) => (value === null ? [] : this.bySelector.get(selectorKey(column, value)) ?? []).filter(
      (r) => !r.followed && record.id <= r.upToId && record.notAfter >= r.leastNotAfter && !(r.selector.exceptAgentSvids && record.kind === 'agent'),
    ));
    return applied.sort((a, b) => a.seq - b.seq);
  }
}

/** The record's revocation as `revocation` contradicts it, if it does. */
function mismatch(record: RevokedRecord, revocation: Revocation, reasonHeld: boolean): Problem | undefined {
  const says = `event ${revocation.seq} (${revocation.type}) revoked certificate record ${record.serial}`;
  if (revocation.revokedAt !== undefined && record.revokedAt !== revocation.revokedAt) {
    return { seq: revocation.seq, reason: `${says} at ${revocation.revokedAt}, but it is recorded as revoked at ${show(record.revokedAt)}: ${ALTERED}` };
  }
  if (!reasonHeld) {
    return { seq: revocation.seq, reason: `${says} for ${show(revocation.reasons[0])}, but it is recorded as revoked for ${show(record.reason)}: ${ALTERED}` };
  }
  return undefined;
}

function selectorKey(column: string, value: string): string {
  return `${column}\n${value}`;
}

/** A stored value as a reason shows it: null, numbers and text as JSON. */
function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
