/**
 * Holds every workload SVID to the registration entry it was issued for. The
 * CA issues one only for an entry, and an entry exists only through an
 * operator's `entry.created` event; so an issuance naming an entry the log
 * never created, or an identity the entry never had, means the entries were
 * written around the CA's API (a row inserted in the datastore, say), and the
 * log cannot say who authorised that identity.
 *
 * Any identity an entry has had so far counts, not only its latest: an SVID
 * being signed when its entry is changed or deleted is recorded after that
 * change, for the identity it was granted.
 */
import { eventObject, type StoredEvent } from './audit-verifier.js';
import { ISSUANCE_EVENT } from './issuance-event.js';

const ENTRY_VERSIONS = new Set(['entry.created', 'entry.updated']);

export class EntryIssuanceCheck {
  /** Per entry id, every "agent SPIFFE-ID" pair it has had. */
  private readonly granted = new Map<string, Set<string>>();

  /** Takes in one event of the log; what is wrong with it, if anything. */
  event(e: StoredEvent): string | undefined {
    if (e.type === ISSUANCE_EVENT) return this.issuance(e.seq, eventObject(e));
    if (!ENTRY_VERSIONS.has(e.type)) return undefined;
    const data = eventObject(e);
    const id = data?.['id'];
    if (typeof id !== 'string') return `event ${e.seq} (${e.type}) names no entry: its data was altered`;
    this.granted.set(id, (this.granted.get(id) ?? new Set<string>()).add(grant(data)));
    return undefined;
  }

  private issuance(seq: number, data: Record<string, unknown> | undefined): string | undefined {
    const id = data?.['entryId'];
    // Agent SVIDs and minted ones come from no entry.
    if (typeof id !== 'string') return undefined;
    const versions = this.granted.get(id);
    if (!versions) return `event ${seq} records an SVID issued for entry ${id}, which no event of the log created: the entries were altered`;
    if (!versions.has(grant(data))) {
      return `event ${seq} records an SVID of ${String(data?.['spiffeId'])} for agent ${String(data?.['agent'])} under entry ${id}, which the log never granted that: the entries were altered`;
    }
    return undefined;
  }
}

/** What an entry grants, as its events and the issuance events both say it. */
function grant(data: Record<string, unknown> | undefined): string {
  return `${String(data?.['agent'])} ${String(data?.['spiffeId'])}`;
}
