/**
 * What `meshca entry apply` changes to make the CA's entries what a manifest
 * says: entries are named by (agent, SPIFFE ID), so one that changes either
 * is a new entry, and the old one goes only when pruning.
 */
import { entryKey, type DesiredEntry } from './entry-manifest.js';

/** An entry as the CA lists it. */
export interface ListedEntry {
  readonly id: string;
  readonly agent: string;
  readonly spiffeId: string;
  readonly ttl: number | null;
  readonly dns: readonly string[];
}

/**
 * Which entries the manifest does not list are deleted: none; those of the
 * agents it names (a file per agent, or per team of agents, prunes only its
 * own: a listing filtered by --agent, or an empty file, deletes nothing
 * else); or every agent's.
 */
export type Prune = 'none' | 'listed-agents' | 'all';

export interface EntryPlan {
  readonly create: readonly DesiredEntry[];
  /** What the CA holds (current) and what it becomes (entry). */
  readonly update: ReadonlyArray<{ readonly id: string; readonly current: ListedEntry; readonly entry: DesiredEntry }>;
  /** Entries the CA holds that the manifest does not list, as far as `prune` reaches. */
  readonly remove: readonly ListedEntry[];
  readonly unchanged: number;
}

function sameFields(desired: DesiredEntry, listed: ListedEntry): boolean {
  return (desired.ttl?.seconds ?? null) === listed.ttl && desired.dns.length === listed.dns.length && desired.dns.every((d, i) => d === listed.dns[i]);
}

export function planEntries(desired: readonly DesiredEntry[], listed: readonly ListedEntry[], prune: Prune): EntryPlan {
  const held = new Map(listed.map((e) => [entryKey(e), e]));
  const wanted = new Set(desired.map(entryKey));
  const create: DesiredEntry[] = [];
  const update: Array<{ id: string; current: ListedEntry; entry: DesiredEntry }> = [];
  let unchanged = 0;
  for (const entry of desired) {
    const current = held.get(entryKey(entry));
    if (current === undefined) create.push(entry);
    else if (sameFields(entry, current)) unchanged++;
    else update.push({ id: current.id, current, entry });
  }
  const agents = new Set<string>(desired.map((e) => e.agent));
  const prunable = (e: ListedEntry) => prune === 'all' || (prune === 'listed-agents' && agents.has(e.agent));
  const remove = listed.filter((e) => prunable(e) && !wanted.has(entryKey(e)));
  return { create, update, remove, unchanged };
}
