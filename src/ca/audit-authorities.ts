/**
 * Holds the authority records to the lifecycle events of the log. Every
 * authority the log says was created must still be recorded, with the
 * certificate it was created with; one it says was retired must still be
 * retired, and one it says was tainted, tainted: nothing ever brings either
 * back. And every authority recorded must have been created by the log.
 * Otherwise whoever can write the datastore could put a tainted
 * intermediate's key back to signing, or a root of their own into the trust
 * bundle, since a restarted CA trusts its records.
 *
 * Records are read twice. Once after the walk, to be held to the log's
 * claims: every event walked was committed with its record change, so a
 * record can only be further along than the log says, never behind it. And
 * once before the walk, to find records the log never created: each of those
 * was committed, with its creation event, before the walk began.
 */
import { eventObject, type StoredEvent } from './audit-verifier.js';
import { CERTIFICATE_HASH, sha256Hex } from './issuance-event.js';
import type { AuthorityRecord } from './model.js';

export class AuthorityRecordCheck {
  /** Per authority, the event of each claim the log makes about it. */
  private readonly created = new Map<string, number>();
  /** The certificate's SHA-256 that each creation event records (none in events of earlier builds). */
  private readonly createdWith = new Map<string, string>();
  private readonly retired = new Map<string, number>();
  private readonly tainted = new Map<string, number>();

  /** Takes in one event of the log; what is wrong with it, when it is a lifecycle event naming no authority. */
  event(e: StoredEvent): string | undefined {
    const claims = e.type === 'authority.created' ? this.created : e.type === 'authority.retired' ? this.retired : e.type === 'authority.tainted' ? this.tainted : undefined;
    if (!claims) return undefined;
    const data = eventObject(e);
    const id = data?.['id'];
    if (typeof id !== 'string') return `event ${e.seq} (${e.type}) names no authority: its data was altered`;
    claims.set(id, e.seq);
    const hash = data?.[CERTIFICATE_HASH];
    if (claims === this.created && typeof hash === 'string') this.createdWith.set(id, hash);
    return undefined;
  }

  /** The event that recorded the creation of `id`, among those taken in so far. */
  createdAt(id: string): number | undefined {
    return this.created.get(id);
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
    const altered = 'the authority records were altered';
    const uncreated = before.find((r) => !this.created.has(r.id));
    if (uncreated) {
      return { seq: endSeq, reason: `${uncreated.kind} ${uncreated.id} is recorded, but no event of the log created it: ${altered}` };
    }
    const byId = new Map(records.map((r) => [r.id, r]));
    for (const [id, seq] of this.created) {
      const record = byId.get(id);
      if (!record) return { seq, reason: `event ${seq} records the creation of authority ${id}, which is no longer recorded: ${altered}` };
      const hash = this.createdWith.get(id);
      if (hash !== undefined && sha256Hex(record.certDer) !== hash) {
        return { seq, reason: `event ${seq} records the creation of authority ${id} with another certificate than the one recorded now (their SHA-256 differ): ${altered}` };
      }
    }
    for (const [id, seq] of this.retired) {
      const state = byId.get(id)?.state;
      if (state !== 'retired') return { seq, reason: `event ${seq} records that authority ${id} retired, but it is recorded as ${state ?? 'absent'}: ${altered}` };
    }
    for (const [id, seq] of this.tainted) {
      const record = byId.get(id);
      if (record?.taintedAt == null || record.state !== 'retired') {
        return { seq, reason: `event ${seq} records that intermediate ${id} was tainted, but its record no longer says so: ${altered}` };
      }
    }
    return undefined;
  }
}
