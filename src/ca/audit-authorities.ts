/**
 * Holds the authority records to the lifecycle events of the log. Every
 * authority the log says was created must still be recorded; one it says was
 * retired must still be retired, and one it says was tainted, tainted:
 * nothing ever brings either back. Otherwise whoever can write the datastore
 * could put a tainted intermediate's key back to signing, since a restarted
 * CA trusts its records. The records are read after the walk: every event
 * walked was committed with its record change, so a record can only be
 * further along than the log says, never behind it.
 */
import type { StoredEvent } from './audit-verifier.js';
import type { AuthorityRecord } from './model.js';

export class AuthorityRecordCheck {
  /** Per authority, the event of each claim the log makes about it. */
  private readonly created = new Map<string, number>();
  private readonly retired = new Map<string, number>();
  private readonly tainted = new Map<string, number>();

  /** Takes in one event of the log; what is wrong with it, when it is a lifecycle event naming no authority. */
  event(e: StoredEvent): string | undefined {
    const claims = e.type === 'authority.created' ? this.created : e.type === 'authority.retired' ? this.retired : e.type === 'authority.tainted' ? this.tainted : undefined;
    if (!claims) return undefined;
    const id = authorityIdIn(e.dataJson);
    if (id === undefined) return `event ${e.seq} (${e.type}) names no authority: its data was altered`;
    claims.set(id, e.seq);
    return undefined;
  }

  /** The event that recorded the taint of `id`, among those taken in so far. */
  taintedAt(id: string): number | undefined {
    return this.tainted.get(id);
  }

  /** The first record that contradicts the log, as a problem at the event it contradicts. */
  finish(records: readonly AuthorityRecord[]): { seq: number; reason: string } | undefined {
    const byId = new Map(records.map((r) => [r.id, r]));
    const altered = 'the authority records were altered';
    for (const [id, seq] of this.created) {
      if (!byId.has(id)) return { seq, reason: `event ${seq} records the creation of authority ${id}, which is no longer recorded: ${altered}` };
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

/** The `id` of an event's data, if its data is an object that has one. */
function authorityIdIn(dataJson: string): string | undefined {
  try {
    const data: unknown = JSON.parse(dataJson);
    const id = typeof data === 'object' && data !== null ? (data as { id?: unknown }).id : undefined;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
