/**
 * Operators' join tokens: made (the token shown once, only its hash kept),
 * listed while they can still admit an agent, and revoked before use, so that
 * a token leaked from a pipeline's log or a Secret is void without evicting
 * the agent it names (eviction voids every token of the name, and revokes the
 * agent's SVIDs as well).
 */
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors.js';
import type { AgentName } from '../identity/agent-name.js';
import type { RandomSource } from '../random/random-source.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { formatDuration, writtenAs, type Duration, type WrittenDuration } from '../time/duration.js';
import { hashJoinToken, joinTokenId, lastHashOf, newJoinToken, parseJoinTokenId, type JoinTokenId } from './join-tokens.js';
import type { JoinTokenRecord, TokenSpending } from './model.js';
import { CREATOR_SERIAL } from './audit-registration.js';
import type { RegistrationStore, TokenPosition } from './registration-ports.js';

export interface JoinTokenServiceDeps {
  readonly store: RegistrationStore;
  readonly clock: Clock;
  readonly random: RandomSource;
}

export interface JoinTokenSettings {
  /** Lifetime when the request names none. */
  readonly tokenTtl: Duration;
  readonly tokenMaxTtl: Duration;
}

export interface CreatedToken {
  readonly token: string;
  readonly id: JoinTokenId;
  readonly agent: string;
  readonly expiresAt: number;
}

/** The admin credential a remote operator makes a token with. */
export interface MakerCredential {
  readonly serial: string;
  /** Epoch seconds. */
  readonly notAfter: number;
}

/** Who makes a token: its label for records and, for a remote operator, the credential it presented (none: the local operator). */
export interface TokenMaker {
  readonly label: string;
  readonly credential: MakerCredential | undefined;
}

/** A token as listed: everything but the secret, which the CA never had. */
export interface TokenSummary {
  readonly id: JoinTokenId;
  readonly agent: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly createdBy: string;
  /** The admin credential that made it (null: the local operator); it admits no agent once that credential is revoked. */
  readonly creatorSerial: string | null;
}

/** Outstanding tokens by expiry; the cursor is the last one listed, so a token made while a client pages is not listed twice. */
export interface TokenPage {
  readonly items: readonly TokenSummary[];
  readonly nextCursor: string | null;
}

export interface RevokedToken {
  readonly id: JoinTokenId;
  readonly agent: string;
  readonly revokedAt: number;
}

export class JoinTokenService {
  constructor(
    private readonly deps: JoinTokenServiceDeps,
    private readonly settings: JoinTokenSettings,
  ) {}

  /**
   * A remote operator's token ends with the credential that made it, cut
   * there as an issued credential is, so an operator whose credential expired
   * leaves no token that outlives it; it records that credential's serial, so
   * that attestation refuses it once the credential is revoked. Its event
   * records the serial too, so that audit verification holds the record to it.
   * A lifetime above the longest a token may live is refused quoting it as
   * it was written ("900h").
   */
  async create(agent: AgentName, ttl: WrittenDuration | undefined, maker: TokenMaker): Promise<CreatedToken> {
    const asked = ttl ?? writtenAs(this.settings.tokenTtl);
    if (asked.seconds > this.settings.tokenMaxTtl) {
      throw new InvalidInputError('invalid_ttl', `ttl: ${asked.written} is longer than the ${formatDuration(this.settings.tokenMaxTtl)} a join token may live`);
    }
    const lifetime = asked.seconds;
    const existing = await this.deps.store.getAgent(agent);
    if (existing?.status === 'banned') throw new ForbiddenError('agent_banned', `agent ${agent} is banned; unban it first`);
    const now = nowSeconds(this.deps.clock);
    const token = newJoinToken(this.deps.random);
    const hash = hashJoinToken(token);
    const expiresAt = Math.min(now + lifetime, maker.credential?.notAfter ?? Infinity);
    const creatorSerial = maker.credential?.serial ?? null;
    await this.deps.store.createToken(
      { hash, agent, createdAt: now, expiresAt, createdBy: maker.label, creatorSerial, usedAt: null },
      { type: 'token.created', actor: maker.label, data: { agent, expiresAt, tokenHash: joinTokenId(hash), [CREATOR_SERIAL]: creatorSerial } },
    );
    return { token, id: joinTokenId(hash), agent, expiresAt };
  }

  async list(agent: AgentName | undefined, cursor: string | null, limit: number): Promise<TokenPage> {
    const after = cursor === null ? null : decodeTokenCursor(cursor);
    // One more than asked tells whether there is a next page.
    const rows = await this.deps.store.listOutstandingTokens(nowSeconds(this.deps.clock), agent, after, limit + 1);
    const items = rows.slice(0, limit).map(summary);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeTokenCursor(last) : null };
  }

  /**
   * Spends the token before any agent can: refused when it was used, voided
   * (its agent evicted or banned, or revoked before) or has expired, since
   * then there is nothing left to revoke, and the operator should know which.
   */
  async revoke(id: JoinTokenId, actor: string): Promise<RevokedToken> {
    const record = await this.deps.store.findTokenById(id);
    if (!record) throw new NotFoundError(`join token ${id}`);
    const now = nowSeconds(this.deps.clock);
    const event = { type: 'token.revoked', actor, data: { agent: record.agent, tokenHash: id } };
    if (!stillOpen(record, now) || !(await this.deps.store.revokeToken(record.hash, now, event))) {
      // Read again: an attestation may have spent it since the first read.
      throw notOpen(id, (await this.deps.store.findToken(record.hash)) ?? record);
    }
    return { id, agent: record.agent, revokedAt: now };
  }
}

function stillOpen(t: JoinTokenRecord, now: number): boolean {
  return t.usedAt === null && t.expiresAt > now;
}

/** Why there is nothing to revoke, in the words an operator acts on. */
function notOpen(id: JoinTokenId, t: JoinTokenRecord): ConflictError {
  const named = `join token ${id} of agent ${t.agent}`;
  if (t.usedAt === null) return new ConflictError('precondition_failed', `${named} expired at ${iso(t.expiresAt)}; it admits no one`);
  const at = iso(t.usedAt);
  const how: Record<TokenSpending, string> = {
    attestation: `was used at ${at}: agent ${t.agent} attested with it; if that was not yours, evict the agent (meshca agent evict ${t.agent})`,
    revocation: `was already revoked at ${at}`,
    eviction: `was voided at ${at}, when agent ${t.agent} was evicted`,
    ban: `was voided at ${at}, when agent ${t.agent} was banned`,
  };
  // Tokens spent by builds that did not record how.
  const said = t.spentBy ? how[t.spentBy] : `was already used or voided at ${at}; the audit log says which`;
  return new ConflictError('precondition_failed', `${named} ${said}`);
}

function iso(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

function summary(t: JoinTokenRecord): TokenSummary {
  return { id: joinTokenId(t.hash), agent: t.agent, createdAt: t.createdAt, expiresAt: t.expiresAt, createdBy: t.createdBy, creatorSerial: t.creatorSerial };
}

function encodeTokenCursor(t: TokenSummary): string {
  return Buffer.from(`t${t.expiresAt}.${t.id}`).toString('base64url');
}

function decodeTokenCursor(cursor: string): TokenPosition {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^t([0-9]{1,15})\.([0-9a-f]{16})$/.exec(text);
  if (!match) throw new InvalidInputError('invalid_request', 'cursor is not one this server gave out');
  // Past every hash of the last token listed, whatever digits follow its id.
  return { expiresAt: Number(match[1]), hash: lastHashOf(parseJoinTokenId(match[2]!)) };
}
