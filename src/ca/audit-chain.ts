/**
 * The rule that makes the audit log tamper-evident: each event's hash covers
 * its own content and the previous event's hash. Stores apply this rule when
 * they append; `meshca audit verify` applies it again when it walks the log.
 */
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level, so the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) sorted[key] = sortKeys(v);
    }
    return sorted;
  }
  return value;
}

export interface ChainedEventFields {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  /** The event's data exactly as stored (canonical JSON). */
  readonly dataJson: string;
  readonly prevHash: string;
}

export function eventHash(e: ChainedEventFields): string {
  return createHash('sha256')
    .update(`${e.prevHash}\n${e.seq}\n${e.at}\n${e.type}\n${e.actor}\n${e.dataJson}`)
    .digest('hex');
}
