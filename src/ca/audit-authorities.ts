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

  event(e: StoredEvent): void {
    if (!e.type.startsWith('authority.')) return;
    const id = (JSON.parse(e.dataJson) as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    if (e.type === 'authority.created') this.created.set(id, e.seq);
    else if (e.type === 'authority.retired') this.retired.set(id, e.seq);
    else if (e.type === 'authority.tainted') this.tainted.set(id, e.seq);
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
