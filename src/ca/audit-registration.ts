/**
 * Holds the registration records (agents' standing, entries, join tokens) to
 * the events of the log. The CA trusts these records on every request: an
 * agent set active again, a token row inserted or set unused again, or an
 * entry given longer-lived SVIDs or other DNS names, all written around the
 * API, would otherwise go unnoticed by verification, since the log still
 * tells only of the changes the CA made.
 *
 * Every registration change commits together with its event, so the records
 * read in one snapshot with the head's seq (RegistrationSnapshot) must be
 * exactly what the log describes after that event: the comparison is made
 * when the walk reaches it, and changes committed while the log is walked are
 * no false alarm.
 *
 * Not held: an agent's last-seen time, SVID and times (no event records them
 * per agent), a token's creator label and times other than its expiry (the
 * serial of the credential that made it is held: a token whose serial was
 * cleared would admit agents after that credential's revocation), an entry's
 * times, and a token spent without an event (which only denies it). Here a
 * status change voids the agent's unused tokens only if its event says it
 * did (`voidsTokens`): builds from before events said so did not always void
 * them.
 */
import { eventObject, type StoredEvent } from './audit-verifier.js';
import type { RevokedRecord } from './audit-revocations.js';
import type { AgentStatus } from './model.js';

/** The registration records, the revoked certificate records and the log's head, read in one snapshot of the datastore. */
export interface RegistrationSnapshot {
  /** The seq of the last event committed in the snapshot; 0 when the log is empty. */
  readonly headSeq: number;
  readonly agents: readonly { readonly name: string; readonly status: string }[];
  readonly entries: readonly RegisteredEntry[];
  readonly tokens: readonly RegisteredToken[];
  /** The certificate records revoked (or given a revocation reason), held to the log by audit-revocations.ts. */
  readonly revoked: readonly RevokedRecord[];
}

/** An entry as stored; its columns as text and numbers, so that any stored value can be named. */
export interface RegisteredEntry {
  readonly id: string;
  readonly agent: string;
  readonly spiffeId: string;
  readonly ttl: number | null;
  readonly dnsNames: unknown;
  readonly revision: number;
}

export interface RegisteredToken {
  readonly hash: string;
  readonly agent: string;
  readonly expiresAt: number;
  readonly creatorSerial: string | null;
  readonly usedAt: number | null;
}

/** What a status event records, besides its agent: that the change spent the agent's unused join tokens. */
export const VOIDS_TOKENS = 'voidsTokens';

/**
 * What token.created records of the admin credential that made the token
 * (null: the local operator); events of builds before it say nothing, and
 * their tokens are recorded with none.
 */
export const CREATOR_SERIAL = 'creatorSerial';

/** The status each agent event leaves its agent in (unban leaves it evicted: it needs a new token). */
const STATUS_AFTER: ReadonlyMap<string, AgentStatus> = new Map([
  ['agent.attested', 'active'],
  ['agent.evicted', 'evicted'],
  ['agent.banned', 'banned'],
  ['agent.unbanned', 'evicted'],
]);

const ENTRY_EVENTS = new Set(['entry.created', 'entry.updated', 'entry.deleted']);
const TOKEN_EVENTS = new Set(['token.created', 'token.used', 'token.revoked']);

/** The entry fields its events record, compared with the record's where the event has them. */
const ENTRY_FIELDS = ['agent', 'spiffeId', 'ttl', 'dnsNames', 'revision'] as const;

/** How a token is named: the hash prefix its events record. */
const TOKEN_PREFIX = 16;

const ALTERED = 'the registration records were altered';

interface Claim {
  readonly seq: number;
  readonly type: string;
}

interface LoggedToken extends Claim {
  readonly agent: string;
  readonly expiresAt: unknown;
  readonly creatorSerial: unknown;
  /** The event that spent (token.used) or voided (a status change) it. */
  spent?: Claim;
}

export interface Problem {
  readonly seq: number;
  readonly reason: string;
}

export class RegistrationRecordCheck {
  private readonly agents = new Map<string, Claim & { status: AgentStatus }>();
  private readonly entries = new Map<string, Claim & { data: Record<string, unknown> }>();
  private readonly deletedEntries = new Map<string, Claim>();
  private readonly tokens = new Map<string, LoggedToken>();
  /** Per agent, the tokens created for it that no event has spent yet. */
  private readonly unspent = new Map<string, LoggedToken[]>();

  /** Takes in one event of the log; what is wrong with it, when a registration event names no record. */
  event(e: StoredEvent): string | undefined {
    if (STATUS_AFTER.has(e.type)) return this.status(e, eventObject(e));
    if (ENTRY_EVENTS.has(e.type)) return this.entry(e, eventObject(e));
    if (TOKEN_EVENTS.has(e.type)) return this.token(e, eventObject(e));
    return undefined;
  }

  private status(e: StoredEvent, data: Record<string, unknown> | undefined): string | undefined {
    const agent = data?.['agent'];
    if (typeof agent !== 'string') return `event ${e.seq} (${e.type}) names no agent: its data was altered`;
    this.agents.set(agent, { seq: e.seq, type: e.type, status: STATUS_AFTER.get(e.type)! });
    if (data?.[VOIDS_TOKENS] === true) {
      for (const token of this.unspent.get(agent) ?? []) token.spent ??= { seq: e.seq, type: e.type };
      this.unspent.delete(agent);
    }
    return undefined;
  }

  private entry(e: StoredEvent, data: Record<string, unknown> | undefined): string | undefined {
    const id = data?.['id'];
    if (typeof id !== 'string') return `event ${e.seq} (${e.type}) names no entry: its data was altered`;
    // Builds before 5c53eaf, on PostgreSQL, could commit an update racing a delete after the delete; the entry
    // stayed deleted. Such an update does not bring it back: only entry.created makes an entry.
    if (e.type === 'entry.updated' && this.deletedEntries.has(id) && !this.entries.has(id)) return undefined;
    if (e.type === 'entry.deleted') {
      this.entries.delete(id);
      this.deletedEntries.set(id, { seq: e.seq, type: e.type });
    } else {
      this.entries.set(id, { seq: e.seq, type: e.type, data: data! });
      this.deletedEntries.delete(id);
    }
    return undefined;
  }

  private token(e: StoredEvent, data: Record<string, unknown> | undefined): string | undefined {
    const prefix = data?.['tokenHash'];
    const agent = data?.['agent'];
    if (typeof prefix !== 'string' || typeof agent !== 'string') return `event ${e.seq} (${e.type}) names no join token: its data was altered`;
    if (e.type === 'token.created') {
      const creatorSerial = CREATOR_SERIAL in data! ? data![CREATOR_SERIAL] : null;
      const token: LoggedToken = { seq: e.seq, type: e.type, agent, expiresAt: data!['expiresAt'], creatorSerial };
      this.tokens.set(prefix, token);
      // In place: a copy per token would make a name given many tokens, and never evicted, cost their square.
      const unspent = this.unspent.get(agent);
      if (unspent) unspent.push(token);
      else this.unspent.set(agent, [token]);
    } else {
      const token = this.tokens.get(prefix);
      // A token is spent once: spending it again means its record was made unused around the API, then used.
      if (token?.spent) {
        return `event ${e.seq} (${e.type}) spends join token ${prefix}… of agent ${token.agent}, which event ${token.spent.seq} (${token.spent.type}) had already spent: ${ALTERED}`;
      }
      if (token) token.spent = { seq: e.seq, type: e.type };
    }
    return undefined;
  }

  /**
   * The first record (lowest event) that contradicts the log as it stands
   * after the snapshot's head, or a record no event made (named at the event
   * after the head).
   */
  compare(snapshot: RegistrationSnapshot): Problem | undefined {
    const unrecorded = snapshot.headSeq + 1;
    const problems = [
      ...this.agentProblems(snapshot.agents, unrecorded),
      ...this.entryProblems(snapshot.entries, unrecorded),
      ...this.tokenProblems(snapshot.tokens, unrecorded),
    ];
    return problems.reduce<Problem | undefined>((first, p) => (first && first.seq <= p.seq ? first : p), undefined);
  }

  private *agentProblems(records: RegistrationSnapshot['agents'], unrecorded: number): Generator<Problem> {
    const stored = new Map(records.map((a) => [a.name, a.status]));
    for (const { name, status } of records) {
      if (!this.agents.has(name)) yield { seq: unrecorded, reason: `agent ${name} is recorded as ${status}, but no event of the log recorded it: ${ALTERED}` };
    }
    for (const [name, claim] of this.agents) {
      const status = stored.get(name);
      if (status === claim.status) continue;
      const now = status === undefined ? 'it is no longer recorded' : `it is recorded as ${status}`;
      yield { seq: claim.seq, reason: `event ${claim.seq} (${claim.type}) leaves agent ${name} ${claim.status}, but ${now}: ${ALTERED}` };
    }
  }

  private *entryProblems(records: readonly RegisteredEntry[], unrecorded: number): Generator<Problem> {
    const stored = new Map(records.map((r) => [r.id, r]));
    for (const record of records) {
      if (this.entries.has(record.id)) continue;
      const deleted = this.deletedEntries.get(record.id);
      yield deleted
        ? { seq: deleted.seq, reason: `event ${deleted.seq} (entry.deleted) deleted entry ${record.id}, but it is recorded again: ${ALTERED}` }
        : { seq: unrecorded, reason: `entry ${record.id} is recorded, but no event of the log created it: ${ALTERED}` };
    }
    for (const [id, claim] of this.entries) {
      const record = stored.get(id);
      if (!record) {
        yield { seq: claim.seq, reason: `event ${claim.seq} (${claim.type}) records entry ${id}, which is no longer recorded though no event deleted it: ${ALTERED}` };
        continue;
      }
      // Only the fields the event records: those of an earlier build may lack some.
      const field = ENTRY_FIELDS.find((f) => f in claim.data && show(claim.data[f]) !== show(record[f]));
      if (field) {
        yield {
          seq: claim.seq,
          reason: `event ${claim.seq} (${claim.type}) gives entry ${id} ${field} ${show(claim.data[field])}, but it is recorded with ${show(record[field])}: ${ALTERED}`,
        };
      }
    }
  }

  private *tokenProblems(records: readonly RegisteredToken[], unrecorded: number): Generator<Problem> {
    const matched = new Set<string>();
    for (const record of records) {
      const prefix = record.hash.slice(0, TOKEN_PREFIX);
      const logged = this.tokens.get(prefix);
      const named = `join token ${prefix}… of agent ${record.agent}`;
      if (!logged || matched.has(prefix)) {
        yield { seq: unrecorded, reason: `${named} is recorded, but no event of the log created it: ${ALTERED}` };
        continue;
      }
      matched.add(prefix);
      if (logged.agent !== record.agent || logged.expiresAt !== record.expiresAt) {
        yield {
          seq: logged.seq,
          reason: `event ${logged.seq} (token.created) creates join token ${prefix}… for agent ${logged.agent} expiring at ${show(logged.expiresAt)}, ` +
            `but it is recorded for agent ${record.agent} expiring at ${record.expiresAt}: ${ALTERED}`,
        };
      } else if (show(logged.creatorSerial) !== show(record.creatorSerial)) {
        yield {
          seq: logged.seq,
          reason: `event ${logged.seq} (token.created) creates ${named} with creator serial ${show(logged.creatorSerial)}, ` +
            `but it is recorded with creator serial ${show(record.creatorSerial)}: ${ALTERED}`,
        };
      } else if (logged.spent && record.usedAt === null) {
        const how = logged.spent.type === 'token.used' ? 'spends' : 'voids';
        yield { seq: logged.spent.seq, reason: `event ${logged.spent.seq} (${logged.spent.type}) ${how} ${named}, but it is recorded unused: ${ALTERED}` };
      }
    }
    for (const [prefix, logged] of this.tokens) {
      if (!matched.has(prefix)) {
        yield { seq: logged.seq, reason: `event ${logged.seq} (token.created) creates join token ${prefix}… for agent ${logged.agent}, which is no longer recorded: ${ALTERED}` };
      }
    }
  }
}

/** A value as a reason shows it, and as two are compared: null, numbers and text as JSON, lists too. */
function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
