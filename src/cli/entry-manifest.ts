/**
 * The entries file `meshca entry apply` reads: a JSON array of entries in the
 * shape `meshca entry list --json` prints, so that a listing is a manifest
 * as it stands (its id, times and revision are the CA's and are ignored).
 * Each entry becomes a typed value here, checked by the CA's own rules
 * before anything is sent, so that a malformed entry changes nothing; what
 * only the CA knows (its trust domain, the names it is reached by) it checks
 * as each entry is sent.
 */
import { assertNotReserved } from '../ca/reserved-ids.js';
import { parseAgentName, type AgentName } from '../identity/agent-name.js';
import { parseDnsName, type DnsName } from '../identity/dns-name.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import { firstDuplicateKey } from '../server/duplicate-keys.js';
import { parseWrittenDuration, seconds, type WrittenDuration } from '../time/duration.js';

export interface DesiredEntry {
  readonly agent: AgentName;
  readonly spiffeId: SpiffeId;
  /**
   * null: the CA's --svid-ttl. Written as in the file ("5h"; whole seconds as
   * "18000s"), which is what is sent, so that a refusal quotes the file.
   */
  readonly ttl: WrittenDuration | null;
  /** Lowercased, each once, in the order given: as the CA keeps them. */
  readonly dns: readonly DnsName[];
}

/** Fields of a listed entry that are the CA's to set, skipped when read back. */
const LISTED_ONLY = new Set(['id', 'createdAt', 'updatedAt', 'revision']);
const FIELDS = new Set(['agent', 'spiffeId', 'ttl', 'dns']);

export class ManifestError extends Error {}

/** (agent, SPIFFE ID): what names an entry, as the CA keeps at most one of each. */
export function entryKey(e: { agent: string; spiffeId: SpiffeId | string }): string {
  return `${e.agent} ${e.spiffeId.toString()}`;
}

/** The longest lifetime the API takes, in whole seconds (its schema): a longer one would be refused midway through an apply. */
const MAX_TTL_SECONDS = 999_999_999;
/** As many DNS names as the API takes for one entry. */
const MAX_DNS_NAMES = 32;

function parseTtl(value: unknown): WrittenDuration | null {
  if (value === undefined || value === null) return null;
  let ttl: WrittenDuration;
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) ttl = { seconds: seconds(value), written: `${value}s` };
  else if (typeof value === 'string') ttl = parseWrittenDuration(value);
  else throw new Error(`${typeof value === 'number' ? String(value) : JSON.stringify(value)} is neither whole seconds, a duration such as "1h", nor null`);
  if (ttl.seconds > MAX_TTL_SECONDS) throw new Error(`${String(value)} is longer than any CA takes (${MAX_TTL_SECONDS} s)`);
  return ttl;
}

function parseEntry(value: unknown): DesiredEntry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('is not an object');
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !FIELDS.has(k) && !LISTED_ONLY.has(k));
  if (unknown.length) throw new Error(`has unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  if (typeof o.agent !== 'string') throw new Error('needs "agent", a string');
  if (typeof o.spiffeId !== 'string') throw new Error('needs "spiffeId", a string');
  if (o.dns !== undefined && !(Array.isArray(o.dns) && o.dns.every((d) => typeof d === 'string'))) throw new Error('dns: is not an array of strings');
  if (Array.isArray(o.dns) && o.dns.length > MAX_DNS_NAMES) throw new Error(`dns: ${o.dns.length} names, more than the ${MAX_DNS_NAMES} an entry may have`);
  return {
    agent: labelled('agent', () => parseAgentName(o.agent as string)),
    spiffeId: labelled('spiffeId', () => {
      const id = SpiffeId.parseWorkload(o.spiffeId as string);
      assertNotReserved(id);
      return id;
    }),
    ttl: labelled('ttl', () => parseTtl(o.ttl)),
    dns: labelled('dns', () => [...new Set(((o.dns ?? []) as string[]).map(parseDnsName))]),
  };
}

/** A field's value parsed by the CA's rules; a refusal is prefixed with the field, as the CA's own are. */
function labelled<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`);
  }
}

/** Every entry of the file, or a ManifestError naming each one that is wrong (by index, from 0) and why. */
export function parseEntryManifest(text: string): DesiredEntry[] {
  // A byte-order mark, as some editors save UTF-8, is no part of the JSON.
  const json = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new ManifestError(`not JSON: ${(err as Error).message}`);
  }
  // As the API refuses them: a reader of the file in review sees the first value, JSON.parse keeps the last.
  const duplicate = firstDuplicateKey(json);
  if (duplicate !== undefined) throw new ManifestError(`names "${duplicate}" twice in one object, which would be read as the last while a reader sees the first`);
  if (!Array.isArray(parsed)) throw new ManifestError('must be a JSON array of entries, as `meshca entry list --json` prints');
  const problems: string[] = [];
  const entries: DesiredEntry[] = [];
  const seen = new Map<string, number>();
  parsed.forEach((value, i) => {
    try {
      const entry = parseEntry(value);
      const first = seen.get(entryKey(entry));
      if (first !== undefined) throw new Error(`repeats entry [${first}] (${entry.agent}, ${entry.spiffeId}): an agent holds an identity once`);
      seen.set(entryKey(entry), i);
      entries.push(entry);
    } catch (err) {
      problems.push(`entry [${i}] ${(err as Error).message}`);
    }
  });
  if (problems.length) throw new ManifestError(problems.join('; '));
  return entries;
}
