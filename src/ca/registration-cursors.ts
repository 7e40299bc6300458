/**
 * The cursors of the agent and entry listings: where the next page resumes,
 * opaque to clients. They hold the last item's sort key, so a page stays
 * right while agents and entries come and go between requests.
 */
import { InvalidInputError } from '../errors.js';
import type { AgentRecord, EntryRecord } from './model.js';
import type { EntryPosition } from './registration-ports.js';

export interface Page<T> {
  readonly items: T[];
  /** Null on the last page. */
  readonly nextCursor: string | null;
}

function notOurs(): never {
  throw new InvalidInputError('invalid_request', 'cursor is not one this server gave out');
}

function decoded(cursor: string, kind: string): unknown {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (Array.isArray(value) && value[0] === kind && value.slice(1).every((v) => typeof v === 'string')) return value.slice(1);
  } catch {
    // not JSON: not ours
  }
  return notOurs();
}

const encoded = (kind: string, ...key: string[]) => Buffer.from(JSON.stringify([kind, ...key])).toString('base64url');

export function agentCursor(a: AgentRecord): string {
  return encoded('agent', a.name);
}

export function agentAfter(cursor: string): string {
  const key = decoded(cursor, 'agent') as string[];
  return key.length === 1 ? key[0]! : notOurs();
}

export function entryCursor(e: EntryRecord): string {
  return encoded('entry', e.agent, e.spiffeId.toString(), e.id);
}

export function entryAfter(cursor: string): EntryPosition {
  const key = decoded(cursor, 'entry') as string[];
  return key.length === 3 ? { agent: key[0]!, spiffeId: key[1]!, id: key[2]! } : notOurs();
}

/** A page from one more row than asked for, which tells whether there is a next page. */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? cursorOf(items[items.length - 1]!) : null };
}
