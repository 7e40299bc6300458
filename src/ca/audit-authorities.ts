/**
 * Holds the authority records to the lifecycle events of the log. Every
 * authority the log says was created must still be recorded, as it was
 * created: with its certificate, kind, parent, validity and whether meshca
 * holds its key, none of which ever change. Each must be in the state its
 * latest lifecycle event left it in (authority.created says its first, then
 * authority.activated, authority.retired and authority.tainted move it; a
 * withdrawal is a retirement), and tainted only if an event tainted it. And
 * every authority recorded must have been created by the log. Otherwise
 * whoever can write the datastore could put a tainted intermediate's key back
 * to signing, a root of their own into the trust bundle, or an intermediate
 * there as a root (a restarted CA would make intermediates under it), since a
 * restarted CA trusts its records.
 *
 * Records are read twice. Once after the walk, to be held to the log's
 * claims: every event walked was committed with its record change, so a
 * record can only be further along than the log says, never behind it. And
 * once before the walk, to find records the log never created or moved: each
 * change to those was committed, with its event, before the walk began, so
 * none of them may be further along than the log.
 *
 * The times a lifecycle change stamped into the record are held to its
 * event too: the creation, from which `root activate` counts a prepared
 * root's propagation wait and asks which agents were not seen since; the
 * activation (authority.created of one created active, or
 * authority.activated), which `authority list` shows and by which the CA
 * picks the root that signs new intermediates when no active intermediate
 * chains to one; the retirement (authority.retired, or authority.tainted,
 * which keeps an earlier retirement's); and the taint, which its parent's CRL
 * gives as the revocation date. Once stamped, none of them ever changes, so
 * another replica's change made after the walk is no false alarm. Events of
 * builds before a time was recorded leave that time unheld.
 *
 * Not held: an imported intermediate's upstream chain, which no event
 * records.
 */
import { eventObject, type StoredEvent } from './audit-verifier.js';
import { CERTIFICATE_HASH, sha256Hex } from './issuance-event.js';
import type { AuthorityRecord, AuthorityState } from './model.js';

const CREATED = 'authority.created';

/** What authority.tainted records of the time the taint stamped into the record: its parent's CRL revokes it from then. */
export const TAINTED_AT = 'taintedAt';
/** What authority.created records of the creation time: a prepared root's sets when `root activate` stops waiting for propagation. */
export const CREATED_AT = 'createdAt';
/** What authority.created (of one created active) and authority.activated record of the activation time they stamped. */
export const ACTIVATED_AT = 'activatedAt';
/** What authority.retired and authority.tainted record of the retirement time the record has after them. */
export const RETIRED_AT = 'retiredAt';

/** The record's times an event may record, by the event's field, and how each reads in a reason. */
const STAMPED: readonly (readonly [string, string, (r: AuthorityRecord) => number | null])[] = [
  [CREATED_AT, 'created', (r) => r.createdAt],
  [ACTIVATED_AT, 'activated', (r) => r.activatedAt],
  [RETIRED_AT, 'retired', (r) => r.retiredAt],
  [TAINTED_AT, 'tainted', (r) => r.taintedAt],
];

/** The state each event after the creation leaves its authority in: a taint retires it too. */
const STATE_AFTER: ReadonlyMap<string, AuthorityState> = new Map([
  ['authority.activated', 'active'],
  ['authority.retired', 'retired'],
  ['authority.tainted', 'retired'],
]);

/** How far along its life a state is: an authority only ever moves forward. */
const STAGE: Readonly<Record<AuthorityState, number>> = { prepared: 0, active: 1, retired: 2 };

/**
 * What authority.created records that the record keeps for good (the store
 * updates only the state and its times), as the record has it; compared
 * where the event has the field.
 */
const CREATION_FIELDS: readonly (readonly [string, (r: AuthorityRecord) => unknown])[] = [
  ['kind', (r) => r.kind],
  ['parent', (r) => r.parentId],
  ['notBefore', (r) => r.notBefore],
  ['notAfter', (r) => r.notAfter],
  ['keyHeld', (r) => r.keyRef !== null],
];

const ALTERED = 'the authority records were altered';

interface Claim {
  readonly seq: number;
  readonly type: string;
}

export class AuthorityRecordCheck {
  /** Per authority, the event of each claim the log makes about it. */
  private readonly created = new Map<string, Claim & { readonly data: Record<string, unknown> }>();
  private readonly retired = new Map<string, number>();
  private readonly tainted = new Map<string, number>();
  /**
   * Per authority and time field, the latest event recording it and the time
   * it records (a taint's: its parent's CRL revokes it from then); events of
   * earlier builds record none.
   */
  private readonly stamps = new Map<string, Map<string, { readonly seq: number; readonly at: number }>>();
  /** Per authority, its latest lifecycle event and the state it leaves it in. */
  private readonly latest = new Map<string, Claim & { readonly state: AuthorityState }>();

  /** Takes in one event of the log; what is wrong with it, when it is a lifecycle event naming no authority. */
  event(e: StoredEvent): string | undefined {
    if (e.type !== CREATED && !STATE_AFTER.has(e.type)) return undefined;
    const data = eventObject(e);
    const id = data?.['id'];
    if (typeof id !== 'string') return `event ${e.seq} (${e.type}) names no authority: its data was altered`;
    const claim = { seq: e.seq, type: e.type };
    if (e.type === CREATED) this.created.set(id, { ...claim, data: data! });
    if (e.type === 'authority.retired') this.retired.set(id, e.seq);
    if (e.type === 'authority.tainted') this.tainted.set(id, e.seq);
    for (const [field] of STAMPED) {
      const at = data![field];
      if (typeof at === 'number') this.stamps.set(id, (this.stamps.get(id) ?? new Map()).set(field, { seq: e.seq, at }));
    }
    const state = e.type === CREATED ? data!['state'] : STATE_AFTER.get(e.type);
    if (isState(state)) this.latest.set(id, { ...claim, state });
    return undefined;
  }

  /** The event that recorded the creation of `id`, among those taken in so far. */
  createdAt(id: string): number | undefined {
    return this.created.get(id)?.seq;
  }

  /** The event that recorded the retirement of `id` (a withdrawal included), among those taken in so far. */
  retiredAt(id: string): number | undefined {
    return this.retired.get(id);
  }

  /** The event that recorded the taint of `id`, among those taken in so far. */
  taintedAt(id: string): number | undefined {
    return this.tainted.get(id);
  }

  /**
   * The first record that contradicts the log, as a problem at the event it
   * contradicts; `endSeq` is where a record the log never created is named.
   */
  finish(before: readonly AuthorityRecord[], records: readonly AuthorityRecord[], endSeq: number): { seq: number; reason: string } | undefined {
    const uncreated = before.find((r) => !this.created.has(r.id));
    if (uncreated) {
      return { seq: endSeq, reason: `${uncreated.kind} ${uncreated.id} is recorded, but no event of the log created it: ${ALTERED}` };
    }
    const byId = new Map(records.map((r) => [r.id, r]));
    for (const [id, { seq, data }] of this.created) {
      const record = byId.get(id);
      if (!record) return { seq, reason: `event ${seq} records the creation of authority ${id}, which is no longer recorded: ${ALTERED}` };
      const hash = data[CERTIFICATE_HASH];
      // Events of earlier builds record no certificate hash.
      if (typeof hash === 'string' && sha256Hex(record.certDer) !== hash) {
        return { seq, reason: `event ${seq} records the creation of authority ${id} with another certificate than the one recorded now (their SHA-256 differ): ${ALTERED}` };
      }
      const changed = CREATION_FIELDS.find(([field, of]) => field in data && show(data[field]) !== show(of(record)));
      if (changed) {
        const [field, of] = changed;
        return { seq, reason: `event ${seq} records the creation of authority ${id} with ${field} ${show(data[field])}, but it is recorded with ${show(of(record))}: ${ALTERED}` };
      }
    }
    for (const [id, seq] of this.retired) {
      const state = byId.get(id)?.state;
      if (state !== 'retired') return { seq, reason: `event ${seq} records that authority ${id} retired, but it is recorded as ${state ?? 'absent'}: ${ALTERED}` };
    }
    for (const [id, seq] of this.tainted) {
      const record = byId.get(id);
      if (record?.taintedAt == null || record.state !== 'retired') {
        return { seq, reason: `event ${seq} records that intermediate ${id} was tainted, but its record no longer says so: ${ALTERED}` };
      }
    }
    // Read after the walk: behind the log is a change undone around the CA.
    for (const [id, claim] of this.latest) {
      const record = byId.get(id);
      if (record && !(stageOf(record.state) >= STAGE[claim.state])) return this.contradiction(id, claim, record.state);
    }
    // Read before the walk: ahead of the log is a change no event records.
    for (const record of before) {
      const claim = this.latest.get(record.id);
      if (claim && !(stageOf(record.state) <= STAGE[claim.state])) return this.contradiction(record.id, claim, record.state);
      if (record.taintedAt !== null && !this.tainted.has(record.id)) {
        return { seq: claim?.seq ?? this.created.get(record.id)!.seq, reason: `authority ${record.id} is recorded as tainted, but no event of the log tainted it: ${ALTERED}` };
      }
    }
    return this.timeContradiction(byId);
  }

  /**
   * The first time recorded otherwise than the event that stamped it says,
   * read after the walk: once stamped, a time never changes.
   */
  private timeContradiction(byId: ReadonlyMap<string, AuthorityRecord>): { seq: number; reason: string } | undefined {
    for (const [id, stamps] of this.stamps) {
      const record = byId.get(id);
      if (!record) continue;
      for (const [field, word, of] of STAMPED) {
        const stamp = stamps.get(field);
        if (stamp && of(record) !== stamp.at) {
          const what = field === TAINTED_AT ? 'intermediate' : 'authority';
          return { seq: stamp.seq, reason: `event ${stamp.seq} records that ${what} ${id} was ${word} at ${stamp.at}, but it is recorded as ${word} at ${show(of(record))}: ${ALTERED}` };
        }
      }
    }
    return undefined;
  }

  private contradiction(id: string, claim: Claim & { readonly state: AuthorityState }, recorded: string): { seq: number; reason: string } {
    return { seq: claim.seq, reason: `event ${claim.seq} (${claim.type}) leaves authority ${id} ${claim.state}, but it is recorded as ${recorded}: ${ALTERED}` };
  }
}

function isState(value: unknown): value is AuthorityState {
  return typeof value === 'string' && Object.hasOwn(STAGE, value);
}

/** A recorded state's stage; NaN for a state meshca has none of, which is then neither behind nor ahead, but wrong. */
function stageOf(state: string): number {
  return isState(state) ? STAGE[state] : NaN;
}

/** A value as a reason shows it, and as two are compared: null, numbers, booleans and text as JSON. */
function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
