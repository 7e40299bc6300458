/**
 * The datastore contract: what the CA relies on from its storage, run against
 * every engine — the embedded SQLite and a real PostgreSQL — through the ports
 * alone, so the two cannot drift apart.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import type { StoredEvent } from '../../src/ca/audit-verifier.js';
import type { AuditEvent, AuthorityRecord, EntryRecord } from '../../src/ca/model.js';
import { CaIntegrityError, ConflictError, ForbiddenError, InvalidInputError, NotFoundError, UnauthenticatedError, UnavailableError } from '../../src/errors.js';
import { joinTokenId, lastHashOf, parseJoinTokenId } from '../../src/ca/join-tokens.js';
import { parseAgentName } from '../../src/identity/agent-name.js';
import { SpiffeId } from '../../src/identity/spiffe-id.js';
import { identityListQuery } from '../../src/store/certificate-sql.js';
import type { Datastore } from '../../src/store/datastore.js';
import { outstandingTokensQuery } from '../../src/store/rows.js';
import { seconds } from '../../src/time/duration.js';
import { engines } from '../support/datastores.js';
import { FakeClock } from '../support/fake-clock.js';
import { agentRecord, authority, issued } from '../support/store-records.js';

const ENGINES = await engines();

async function allEvents(store: Datastore): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for await (const e of store.audit.events()) events.push(e);
  return events;
}

/** Walks the log as `meshca audit verify` would; one line per broken link, so a good chain is []. */
function chainBreaks(events: readonly StoredEvent[]): string[] {
  const breaks: string[] = [];
  let prevHash = GENESIS_HASH;
  events.forEach((e, i) => {
    if (e.seq !== i + 1) breaks.push(`position ${i}: seq ${e.seq}, expected ${i + 1}`);
    if (e.prevHash !== prevHash) breaks.push(`seq ${e.seq}: prevHash is not the previous hash`);
    if (e.hash !== eventHash({ seq: e.seq, at: e.at, type: e.type, actor: e.actor, dataJson: e.dataJson, prevHash: e.prevHash })) {
      breaks.push(`seq ${e.seq}: hash does not match its content`);
    }
    prevHash = e.hash;
  });
  return breaks;
}

const serialOf = (i: number): string => `7${i.toString(16).padStart(15, '0')}`;
const note = (type: string, data: Record<string, unknown> = {}): AuditEvent => ({ type, actor: 'meshca', data });

function entry(id: string, agent: string, path: string, at: number): EntryRecord {
  return {
    id,
    agent: parseAgentName(agent),
    spiffeId: SpiffeId.parse(`spiffe://example.org${path}`),
    ttl: seconds(600),
    dnsNames: [],
    createdAt: at,
    updatedAt: at,
    revision: 1,
  };
}

async function walk(store: Datastore, limit: number, between?: () => Promise<void>): Promise<string[]> {
  const serials: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.certificates.listCertificates({}, cursor, limit);
    serials.push(...page.items.map((c) => c.serial));
    cursor = page.nextCursor;
    await between?.();
  } while (cursor);
  return serials;
}

/** The statement with its parameters written in as literals, so that EXPLAIN can plan it. */
function inlined(sql: string, params: readonly unknown[]): string {
  const literal = (v: unknown) => (typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
  let next = 0;
  return sql.replace(/\$(\d+)|\?/g, (_m, n: string | undefined) => literal(params[n === undefined ? next++ : Number(n) - 1]));
}

async function explain(
  kind: Datastore['kind'], sql: string, raw: (sql: string) => Promise<unknown[]>, session?: () => Promise<{ query(sql: string): Promise<unknown[]> }>,
): Promise<string> {
  if (kind === 'sqlite') return (await raw(`EXPLAIN QUERY PLAN ${sql}`)).map((r) => (r as { detail: string }).detail).join('\n');
  const db = await session!();
  await db.query('SET enable_sort = off');
  await db.query('SET enable_seqscan = off');
  return (await db.query(`EXPLAIN ${sql}`)).map((r) => (r as Record<string, string>)['QUERY PLAN']).join('\n');
}

describe.each(ENGINES)('the $name datastore', (engine) => {
  const open = (clock = new FakeClock(), passphrase?: string) => engine.open(clock, passphrase);

  describe('opening', () => {
    it('creates an empty datastore the first time and reopens it, migrated once, afterwards', async () => {
      const { store, reopen } = await open();
      expect(store.kind).toBe(engine.kind);
      expect(store.created).toBe(true);
      expect(await store.authorities.bundleSequence()).toBe(0);
      const again = await reopen();
      expect(again.created).toBe(false);
      expect(await again.authorities.bundleSequence()).toBe(0);
    });
  });

  describe('closing', () => {
    it('refuses an issuance still queued when it closes (store_unavailable), and records it neither then nor after', async () => {
      const { store, reopen } = await open();
      const { record, event } = issued(serialOf(1));
      const recorded = store.certificates.recordIssued(record, event).then(() => 'acknowledged', (err: unknown) => err);
      await store.close();
      expect(await recorded).toMatchObject({ code: 'store_unavailable' });
      expect((await (await reopen()).certificates.listCertificates({}, null, 10)).items).toEqual([]);
    });
  });

  describe('readiness', () => {
    it('answers, and commits a write probe that leaves nothing behind', async () => {
      const { store, raw } = await open();
      await store.reachable();
      await store.writable();
      await store.writable();
      expect((await raw('SELECT COUNT(*) AS n FROM write_probe')) as Array<{ n: number | string }>).toEqual([{ n: engine.kind === 'postgres' ? '0' : 0 }]);
    });
  });

  describe('the audit log', () => {
    it('chains every kind of write to the one before, from the genesis hash, with the clock time and canonical JSON', async () => {
      const clock = new FakeClock();
      const { store } = await open(clock);
      const data = { zeta: 1, alpha: { b: [2, { d: 4, c: 3 }], a: null } };
      await store.audit.append({ type: 'ca.started', actor: 'operator:alice', data });
      clock.advance(5);
      await store.certificates.recordIssued(issued('01').record, issued('01').event);
      await store.authorities.applyAuthorityChange({
        upserts: [authority('aa', 'active')],
        bundleSequence: 1,
        events: [note('authority.created'), note('authority.activated')],
      });
      const events = await allEvents(store);
      expect(events.map((e) => [e.seq, e.type])).toEqual([
        [1, 'ca.started'], [2, 'certificate.issued'], [3, 'authority.created'], [4, 'authority.activated'],
      ]);
      expect(events[0]).toMatchObject({ at: clock.nowSeconds() - 5, actor: 'operator:alice', prevHash: GENESIS_HASH });
      expect(events[0]!.dataJson).toBe(canonicalJson(data));
      expect(events[0]!.dataJson).toBe('{"alpha":{"a":null,"b":[2,{"c":3,"d":4}]},"zeta":1}');
      expect(chainBreaks(events)).toEqual([]);
      expect(await store.audit.head()).toEqual({ seq: 4, hash: events[3]!.hash });
    });

    it('lets the chain check catch an edited event (the check can fail)', async () => {
      const { store } = await open();
      await store.audit.append(note('a'));
      await store.audit.append(note('b'));
      const events = await allEvents(store);
      events[0] = { ...events[0]!, actor: 'someone else' };
      expect(chainBreaks(events)).toEqual(['seq 1: hash does not match its content']);
    });

    it('keeps one chain, in commit order, when many writers append at once', async () => {
      const { store } = await open();
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          i % 3 === 0 ? store.audit.append(note('n', { i }))
          : i % 3 === 1 ? store.certificates.recordIssued(issued(serialOf(i)).record, issued(serialOf(i)).event)
          : store.registrations.createToken(
            { hash: `h${i}`, agent: 'node-1', createdAt: 0, expiresAt: 99, createdBy: 'operator:o', creatorSerial: null, usedAt: null },
            note('token.created', { i }),
          ),
        ),
      );
      const events = await allEvents(store);
      expect(events).toHaveLength(60);
      expect(chainBreaks(events)).toEqual([]);
    });

    it('keeps the chain whole when one issuance of a batch fails: only that one is refused and unrecorded', async () => {
      const { store } = await open();
      await store.certificates.recordIssued(issued('01').record, issued('01').event);
      const outcomes = await Promise.all(
        ['02', '01', '03'].map((s) => store.certificates.recordIssued(issued(s).record, issued(s).event).then(() => 'ok', (e: unknown) => e)),
      );
      expect(outcomes[0]).toBe('ok');
      expect(outcomes[1]).toBeInstanceOf(UnavailableError);
      expect(outcomes[1]).toMatchObject({ code: 'store_unavailable' });
      expect(outcomes[2]).toBe('ok');
      const events = await allEvents(store);
      expect(events.map((e) => JSON.parse(e.dataJson).serial)).toEqual(['01', '02', '03']);
      expect(chainBreaks(events)).toEqual([]);
      expect(await walk(store, 10)).toEqual(['01', '02', '03']);
    });

    it('continues the chain across a reopen', async () => {
      const { store, reopen } = await open();
      await store.audit.append(note('first'));
      await store.close();
      const again = await reopen();
      await again.audit.append(note('second'));
      const events = await allEvents(again);
      expect(events.map((e) => e.type)).toEqual(['first', 'second']);
      expect(chainBreaks(events)).toEqual([]);
    });

    it.each([
      ['UPDATE', "UPDATE audit_events SET actor = 'mallory'"],
      ['DELETE', 'DELETE FROM audit_events'],
      ['UPDATE of the hash', "UPDATE audit_events SET hash = 'x' WHERE seq = 1"],
      ['DELETE of the last event', 'DELETE FROM audit_events WHERE seq = 2'],
    ])('refuses a raw %s on the log and leaves it unchanged', async (_name, sql) => {
      const { store, raw } = await open();
      await store.audit.append(note('a'));
      await store.audit.append(note('b'));
      const before = await allEvents(store);
      await expect(raw(sql)).rejects.toThrow('the audit log is append-only');
      expect(await allEvents(store)).toEqual(before);
    });

    it('stores checkpoints in order, each recorded in the log itself', async () => {
      const { store } = await open();
      await store.audit.append(note('a'));
      const first = { seq: 1, hash: (await store.audit.head())!.hash, at: 10, signerId: 'ab', signature: 'c2ln' };
      await store.audit.saveCheckpoint(first, note('audit.checkpoint', { seq: 1 }));
      const second = { ...first, seq: 2, hash: (await store.audit.head())!.hash, at: 20 };
      await store.audit.saveCheckpoint(second, note('audit.checkpoint', { seq: 2 }));
      expect(await store.audit.checkpoints()).toEqual([first, second]);
      expect((await allEvents(store)).map((e) => e.type)).toEqual(['a', 'audit.checkpoint', 'audit.checkpoint']);
    });

    it('reads the newest checkpoint alone, and tells whether events of other types follow a seq', async () => {
      const { store } = await open();
      expect(await store.audit.newestCheckpoint()).toBeUndefined();
      await store.audit.append(note('a'));
      const first = { seq: 1, hash: (await store.audit.head())!.hash, at: 10, signerId: 'ab', signature: 'c2ln' };
      await store.audit.saveCheckpoint(first, note('audit.checkpoint'));
      expect(await store.audit.newestCheckpoint()).toEqual(first);
      expect(await store.audit.hasEventsAfter(1, 'audit.checkpoint')).toBe(false);
      expect(await store.audit.hasEventsAfter(1, 'other')).toBe(true);
      await store.audit.append(note('b'));
      expect(await store.audit.hasEventsAfter(1, 'audit.checkpoint')).toBe(true);
      expect(await store.audit.hasEventsAfter(3, 'audit.checkpoint')).toBe(false);
      // Of two checkpoints at one seq (two replicas at once), the one stored later.
      const again = { ...first, at: 11, signature: 'b3RoZXI' };
      await store.audit.saveCheckpoint(again, note('audit.checkpoint'));
      expect(await store.audit.newestCheckpoint()).toEqual(again);
    });

    it('reads events from a sequence number or a time onwards', async () => {
      const clock = new FakeClock();
      const { store } = await open(clock);
      for (const type of ['a', 'b', 'c']) {
        await store.audit.append(note(type));
        clock.advance(10);
      }
      const types = async (it: AsyncIterable<StoredEvent>) => {
        const out: string[] = [];
        for await (const e of it) out.push(e.type);
        return out;
      };
      expect(await types(store.audit.events(2))).toEqual(['b', 'c']);
      expect(await types(store.audit.events(1, clock.nowSeconds() - 10))).toEqual(['c']);
    });
  });

  describe('authorities', () => {
    it('round-trips an authority change and updates only the state fields of an existing one', async () => {
      const { store } = await open();
      const prepared = authority('aa', 'prepared');
      await store.authorities.applyAuthorityChange({ upserts: [prepared], bundleSequence: 1, events: [] });
      expect(await store.authorities.listAuthorities()).toEqual([prepared]);
      const active = { ...prepared, state: 'active' as const, activatedAt: 1_500, certDer: Buffer.from('ignored'), notAfter: 9_999 };
      await store.authorities.applyAuthorityChange({ upserts: [active], bundleSequence: 2, events: [] });
      expect(await store.authorities.listAuthorities()).toEqual([{ ...prepared, state: 'active', activatedAt: 1_500 }]);
      expect(await store.authorities.bundleSequence()).toBe(2);
    });

    it('commits nothing of a change that fails part-way, audit events included', async () => {
      const { store } = await open();
      const bad = { ...authority('bb', 'active'), kind: 'leaf' as unknown as AuthorityRecord['kind'] };
      await expect(
        store.authorities.applyAuthorityChange({
          upserts: [authority('aa', 'active'), bad],
          bundleSequence: 7,
          events: [note('authority.created')],
        }),
      ).rejects.toThrow(/check constraint/i);
      expect(await store.authorities.listAuthorities()).toEqual([]);
      expect(await store.authorities.bundleSequence()).toBe(0);
      expect(await allEvents(store)).toEqual([]);
    });

    it('notes how a PKI was begun, the latest first start\'s way, and keeps it across a reopen', async () => {
      const { store, reopen } = await open();
      const seen: unknown[] = [await store.authorities.pkiBegun()];
      for (const origin of ['import', 'generate', 'import'] as const) {
        await store.authorities.notePkiBegun(origin);
        seen.push(await store.authorities.pkiBegun());
      }
      seen.push(await (await reopen()).authorities.pkiBegun());
      expect(seen).toEqual([undefined, 'import', 'generate', 'import', 'import']);
    });
  });

  describe('join tokens', () => {
    const token = { hash: 'token-hash', agent: 'node-1', createdAt: 100, expiresAt: 200, createdBy: 'operator:o', creatorSerial: null, usedAt: null };

    function attempt(store: Datastore, now: number, i: number) {
      return store.registrations.completeAttestation({
        tokenHash: token.hash,
        now,
        agent: agentRecord('node-1', now),
        certificate: issued(serialOf(i), now, { kind: 'agent' }).record,
        events: [note('agent.attested', { i })],
      });
    }

    it('can be used once even when many attempts race for it', async () => {
      const { store } = await open();
      await store.registrations.createToken(token, note('token.created'));
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(store, 150, i)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await store.registrations.findToken(token.hash)).toEqual({ ...token, usedAt: 150, spentBy: 'attestation' });
      expect(await walk(store, 50)).toEqual([serialOf(winner)]);
      expect((await allEvents(store)).map((e) => e.type)).toEqual(['token.created', 'agent.attested']);
      expect((await store.registrations.getAgent('node-1'))?.status).toBe('active');
    });

    it('is refused, committing nothing, once it has expired', async () => {
      const { store } = await open();
      await store.registrations.createToken(token, note('token.created'));
      expect(await attempt(store, 200, 1)).toBe(false);
      expect(await store.registrations.getAgent('node-1')).toBeUndefined();
      expect(await walk(store, 50)).toEqual([]);
    });

    it('supersedes, under a name already active, the agent SVIDs held under it: revoked with it, one event each, counted; its workloads\' SVIDs are kept', async () => {
      const { store } = await open();
      const workload = issued('w1', 15, { kind: 'workload' });
      for (const [hash, serial, now] of [['h1', 'a1', 10], ['h2', 'a2', 20]] as const) {
        await store.registrations.createToken({ hash, agent: 'node-1', createdAt: 0, expiresAt: 99, createdBy: 'o', creatorSerial: null, usedAt: null }, note('t'));
        const certificate = issued(serial, now, { kind: 'agent' }).record;
        expect(await store.registrations.completeAttestation({ tokenHash: hash, now, agent: agentRecord('node-1', now), certificate, events: [note('agent.attested')] })).toBe(true);
        if (serial === 'a1') await store.certificates.recordIssued(workload.record, workload.event);
      }
      expect(await Promise.all(['a1', 'a2', 'w1'].map(async (serial) => (await store.registrations.credential(serial))?.revocation))).toEqual(['superseded', null, null]);
      expect(await store.certificates.revocationCount()).toBe(1);
      const revoked = (await allEvents(store)).filter((e) => e.type === 'certificates.revoked');
      expect(revoked.map((e) => [JSON.parse(e.dataJson), e.actor])).toEqual([[{ serial: 'a1', reason: 'superseded', count: 1, revokedAt: 20, throughNotAfter: true }, 'agent:node-1']]);
    });

    it.each([['banned'], ['evicted']] as const)('is refused once the agent is %s, in the same transaction', async (status) => {
      const { store } = await open();
      await store.registrations.createToken(token, note('token.created'));
      await store.registrations.setAgentStatus('node-1', status, 120, note(`agent.${status}`), false);
      expect(await attempt(store, 150, 1)).toBe(false);
    });

    it.each([
      { maker: 'the local operator (no credential)', creatorSerial: null, admits: true },
      { maker: 'an admin credential that stands', creatorSerial: 'c1', admits: true },
      { maker: 'an admin credential since revoked', creatorSerial: 'c2', admits: false },
    ])('keeps the serial of the credential that made it, and admits an agent only while that credential is not revoked: $maker', async ({ creatorSerial, admits }) => {
      const { store } = await open();
      for (const serial of ['c1', 'c2']) {
        const credential = issued(serial, 100);
        await store.certificates.recordIssued(credential.record, credential.event);
      }
      await store.certificates.revoke({ serial: 'c2' }, 120, 'keyCompromise', (n) => note('certificates.revoked', { n }));
      const made = { ...token, creatorSerial };
      await store.registrations.createToken(made, note('token.created'));
      expect(await store.registrations.findToken(token.hash)).toEqual(made);
      expect(await store.registrations.listOutstandingTokens(150, undefined, null, 10)).toEqual([made]);

      expect(await attempt(store, 150, 1)).toBe(admits);
      // Refused, it is left unspent, and nothing of the attestation is recorded.
      expect((await store.registrations.findToken(token.hash))?.usedAt).toBe(admits ? 150 : null);
      expect((await store.registrations.getAgent('node-1'))?.status).toBe(admits ? 'active' : undefined);
      expect((await store.registrations.credential(serialOf(1))) !== undefined).toBe(admits);
      expect((await allEvents(store)).map((e) => e.type).filter((t) => t === 'agent.attested')).toHaveLength(admits ? 1 : 0);
    });

    describe('outstanding, found by id, and revoked', () => {
      const hex = (digit: string) => digit.repeat(64);
      const made = (hash: string, agent: string, expiresAt: number) => ({ hash, agent, createdAt: 0, expiresAt, createdBy: 'o', creatorSerial: null, usedAt: null });
      /** At 150: c (n1, 200), a (n2, 300), b (n1, 300) outstanding; d expired at 100; e used. */
      async function tokens(store: Datastore): Promise<void> {
        for (const t of [made(hex('b'), 'n1', 300), made(hex('a'), 'n2', 300), made(hex('c'), 'n1', 200), made(hex('d'), 'n1', 100), made(hex('e'), 'n2', 400)]) {
          await store.registrations.createToken(t, note('token.created'));
        }
        expect(await store.registrations.revokeToken(hex('e'), 120, note('token.revoked'))).toBe(true);
      }
      const hashes = (list: readonly { hash: string }[]) => list.map((t) => t.hash[0]).join('');

      it('lists the unused, unexpired tokens by expiry then hash, after a position, one agent\'s when asked', async () => {
        const { store } = await open();
        await tokens(store);
        const r = store.registrations;
        expect(hashes(await r.listOutstandingTokens(150, undefined, null, 10))).toBe('cab');
        expect(hashes(await r.listOutstandingTokens(150, parseAgentName('n1'), null, 10))).toBe('cb');
        expect(hashes(await r.listOutstandingTokens(150, undefined, null, 2))).toBe('ca');
        // Past every hash beginning with a's id, at a's expiry: b, which ties on expiry, is next.
        expect(hashes(await r.listOutstandingTokens(150, undefined, { expiresAt: 300, hash: lastHashOf(joinTokenId(hex('a'))) }, 10))).toBe('b');
        expect(hashes(await r.listOutstandingTokens(250, undefined, null, 10))).toBe('ab');
        expect(await r.listOutstandingTokens(150, undefined, null, 10)).toContainEqual(made(hex('c'), 'n1', 200));
      });

      it('finds a token by the first 16 hex digits of its hash, and none by an id no hash begins with', async () => {
        const { store } = await open();
        await tokens(store);
        expect(await store.registrations.findTokenById(joinTokenId(hex('c')))).toEqual(made(hex('c'), 'n1', 200));
        expect(await store.registrations.findTokenById(joinTokenId(hex('e')))).toMatchObject({ usedAt: 120 });
        expect(await store.registrations.findTokenById(parseJoinTokenId('ccccccccccccccc0'))).toBeUndefined();
      });

      it('revokes a token once, with its event, and neither an expired nor a spent one', async () => {
        const { store } = await open();
        await tokens(store);
        expect(await store.registrations.revokeToken(hex('c'), 150, note('token.revoked', { t: 'c' }))).toBe(true);
        expect(await store.registrations.revokeToken(hex('c'), 151, note('token.revoked', { t: 'c2' }))).toBe(false);
        expect(await store.registrations.revokeToken(hex('d'), 150, note('token.revoked', { t: 'd' }))).toBe(false);
        expect(await store.registrations.findToken(hex('c'))).toMatchObject({ usedAt: 150 });
        expect(await store.registrations.findToken(hex('d'))).toMatchObject({ usedAt: null });
        expect((await allEvents(store)).filter((e) => e.type === 'token.revoked').map((e) => e.dataJson)).toEqual(['{}', '{"t":"c"}']);
        expect(chainBreaks(await allEvents(store))).toEqual([]);
      });

      it('reads them through the partial index on unused tokens, rather than every token and a sort', async () => {
        const { store, raw, session } = await open();
        await tokens(store);
        const { sql, params } = outstandingTokensQuery(150, undefined, { expiresAt: 200, hash: hex('c') }, 10);
        const plan = await explain(engine.kind, inlined(sql, params), raw, session);
        expect(plan).not.toMatch(engine.kind === 'postgres' ? /\bSort\b/ : /TEMP B-TREE/);
        expect(plan).toContain('join_tokens_unspent');
      });

      it('records what spent each token: an attestation, a revocation, an eviction or a ban', async () => {
        const { store } = await open();
        const r = store.registrations;
        for (const [digit, agent] of [['1', 'n1'], ['2', 'n2'], ['3', 'n3'], ['4', 'n4']] as const) await r.createToken(made(hex(digit), agent, 300), note('token.created'));
        await r.completeAttestation({ tokenHash: hex('1'), now: 150, agent: agentRecord('n1', 150), certificate: issued(serialOf(1), 150, { kind: 'agent' }).record, events: [] });
        await r.revokeToken(hex('2'), 150, note('token.revoked'));
        await r.setAgentStatus('n3', 'evicted', 150, note('agent.evicted'), false);
        await r.setAgentStatus('n4', 'banned', 150, note('agent.banned'), false);
        const spent = await Promise.all(['1', '2', '3', '4'].map(async (digit) => (await r.findToken(hex(digit)))?.spentBy));
        expect(spent).toEqual(['attestation', 'revocation', 'eviction', 'ban']);
      });

      it('lets exactly one of a revocation and attestations racing for the same token win', async () => {
        const { store } = await open();
        for (let round = 0; round < 4; round++) {
          const hash = hex(String(round));
          await store.registrations.createToken({ ...token, hash }, note('token.created'));
          const results = await Promise.all([
            store.registrations.revokeToken(hash, 150, note('token.revoked')),
            ...Array.from({ length: 4 }, (_, i) => store.registrations.completeAttestation({
              tokenHash: hash, now: 150, agent: agentRecord('node-1', 150), certificate: issued(serialOf(round * 10 + i), 150, { kind: 'agent' }).record, events: [note('agent.attested')],
            })),
          ]);
          expect(results.filter(Boolean)).toHaveLength(1);
          const events = (await allEvents(store)).map((e) => e.type);
          expect(events.filter((t) => t === 'token.revoked' || t === 'agent.attested')).toHaveLength(round + 1);
        }
      });
    });
  });

  describe('agents and entries', () => {
    it('records renewals, lists agents in byte order and tracks last seen', async () => {
      const { store } = await open();
      for (const name of ['b-agent', 'B-agent', 'a-agent']) {
        await store.registrations.createToken({ hash: name, agent: name, createdAt: 0, expiresAt: 99, createdBy: 'o', creatorSerial: null, usedAt: null }, note('t'));
        await store.registrations.completeAttestation({
          tokenHash: name, now: 10, agent: agentRecord(name, 10), certificate: issued(`a${name.length}${name}`, 10, { kind: 'agent' }).record, events: [],
        });
      }
      await store.registrations.recordAgentRenewal('a-agent', 'a7a-agent', issued('0beef', 50, { kind: 'agent', notAfter: 500 }).record, note('renewed'));
      await store.registrations.touchAgents(new Map([['b-agent', 70]]));
      const agents = await store.registrations.listAgents();
      expect(agents.map((a) => a.name)).toEqual(['B-agent', 'a-agent', 'b-agent']);
      expect(agents[1]).toMatchObject({ svidSerial: '0beef', svidNotAfter: 500, lastSeen: 50 });
      expect(agents[2]).toMatchObject({ lastSeen: 70 });
      expect(await store.registrations.countAgentsByStatus()).toEqual({ active: 3 });
    });

    it.each([
      ['evicted', 'agent_evicted'],
      ['banned', 'agent_banned'],
    ] as const)('refuses to record the renewal of an agent %s meanwhile (%s), recording nothing', async (status, code) => {
      const { store } = await open();
      await store.registrations.createToken({ hash: 'h', agent: 'node-1', createdAt: 0, expiresAt: 99, createdBy: 'o', creatorSerial: null, usedAt: null }, note('t'));
      await store.registrations.completeAttestation({
        tokenHash: 'h', now: 10, agent: agentRecord('node-1', 10), certificate: issued('a1', 10, { kind: 'agent' }).record, events: [],
      });
      await store.registrations.setAgentStatus('node-1', status, 20, note(`agent.${status}`), true);
      const head = (await store.audit.head())?.seq;
      const renewal = store.registrations.recordAgentRenewal('node-1', 'a1', issued('a2', 30, { kind: 'agent', agent: 'node-1' }).record, note('renewed'));
      await expect(renewal).rejects.toSatisfy((e: unknown) => e instanceof ForbiddenError && e.code === code);
      expect(await store.registrations.credential('a2')).toBeUndefined();
      expect((await store.audit.head())?.seq).toBe(head);
    });

    it('refuses to record a renewal whose presented SVID was superseded meanwhile (certificate_superseded), recording nothing and keeping the agent\'s current serial', async () => {
      const { store } = await open();
      for (const [hash, serial, now] of [['h1', 'a1', 10], ['h2', 'a2', 20]] as const) {
        await store.registrations.createToken({ hash, agent: 'node-1', createdAt: 0, expiresAt: 99, createdBy: 'o', creatorSerial: null, usedAt: null }, note('t'));
        await store.registrations.completeAttestation({ tokenHash: hash, now, agent: agentRecord('node-1', now), certificate: issued(serial, now, { kind: 'agent' }).record, events: [] });
      }
      const agent = await store.registrations.getAgent('node-1');
      // a1's holder renews, superseded by the attestation that gave a2.
      const renewal = store.registrations.recordAgentRenewal('node-1', 'a1', issued('a3', 30, { kind: 'agent' }).record, note('renewed'));
      await expect(renewal).rejects.toSatisfy((e: unknown) => e instanceof UnauthenticatedError && e.code === 'certificate_superseded');
      expect(await store.registrations.credential('a3')).toBeUndefined();
      expect(await store.registrations.getAgent('node-1')).toEqual(agent);
    });

    it('creates, finds, updates and deletes entries', async () => {
      const { store } = await open();
      const web = entry('e1', 'node-1', '/web', 10);
      await store.registrations.createEntry(web, note('entry.created'));
      await store.registrations.createEntry(entry('e2', 'node-2', '/db', 10), note('entry.created'));
      expect(await store.registrations.getEntry('e1')).toEqual(web);
      expect((await store.registrations.listEntries({ agent: 'node-1' })).map((e) => e.id)).toEqual(['e1']);
      const changed = { ...web, ttl: seconds(60), revision: 2, updatedAt: 20 };
      await store.registrations.updateEntry(changed, note('entry.updated'));
      expect(await store.registrations.getEntry('e1')).toEqual(changed);
      await store.registrations.deleteEntry('e1', note('entry.deleted'));
      // A second delete, as another caller's racing the first, deleted nothing and records nothing.
      const head = (await store.audit.head())?.seq;
      await expect(store.registrations.deleteEntry('e1', note('entry.deleted'))).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.audit.head())?.seq).toBe(head);
      expect(await store.registrations.getEntry('e1')).toBeUndefined();
      expect((await store.registrations.listEntries({})).map((e) => e.id)).toEqual(['e2']);
    });

    it('lists agents a page at a time, in byte order, each page after the name the last one ended with', async () => {
      const { store } = await open();
      for (const name of ['b-agent', 'B-agent', 'a-agent', 'a-agent.2']) await store.registrations.setAgentStatus(name, 'banned', 10, note('agent.banned'), false, null);
      const page = async (after: string | null) => (await store.registrations.listAgents({ after, limit: 2 })).map((a) => a.name);
      expect(await page(null)).toEqual(['B-agent', 'a-agent']);
      expect(await page('a-agent')).toEqual(['a-agent.2', 'b-agent']);
      expect(await page('b-agent')).toEqual([]);
      // A name the last page ended with that is gone since (evicted and purged, say) still marks the place.
      expect(await page('a-agent.1')).toEqual(['a-agent.2', 'b-agent']);
    });

    it('lists entries a page at a time, by agent, SPIFFE ID and id in byte order, all or one agent\'s', async () => {
      const { store } = await open();
      const made = [entry('e1', 'node-1', '/web', 10), entry('e2', 'node-1', '/db', 10), entry('e3', 'node-2', '/a', 10), entry('e4', 'Node-0', '/z', 10)];
      for (const e of made) await store.registrations.createEntry(e, note('entry.created'));
      const after = (id: string) => {
        const e = made.find((m) => m.id === id)!;
        return { agent: e.agent, spiffeId: e.spiffeId.toString(), id };
      };
      const page = async (filter: { agent?: string }, from: string | null, limit: number) =>
        (await store.registrations.listEntries(filter, { after: from === null ? null : after(from), limit })).map((e) => e.id);
      expect(await page({}, null, 3)).toEqual(['e4', 'e2', 'e1']);
      expect(await page({}, 'e1', 3)).toEqual(['e3']);
      expect(await page({ agent: 'node-1' }, null, 1)).toEqual(['e2']);
      expect(await page({ agent: 'node-1' }, 'e2', 1)).toEqual(['e1']);
      expect(await page({ agent: 'node-1' }, 'e1', 1)).toEqual([]);
    });

    it('refuses a second entry for the same agent and SPIFFE ID as a conflict (409), recording nothing', async () => {
      const { store } = await open();
      await store.registrations.createEntry(entry('e1', 'node-1', '/web', 10), note('entry.created'));
      await store.registrations.createEntry(entry('e2', 'node-1', '/db', 10), note('entry.created'));
      const head = (await store.audit.head())?.seq;
      // Each refusal is awaited as it is made: one left waiting while the other is awaited may reject unhandled (PostgreSQL answers both at once).
      const conflict = (e: unknown) => e instanceof ConflictError && e.code === 'already_exists';
      await Promise.all([
        expect(store.registrations.createEntry(entry('e3', 'node-1', '/web', 10), note('entry.created'))).rejects.toSatisfy(conflict),
        expect(store.registrations.updateEntry({ ...entry('e2', 'node-1', '/web', 10), revision: 2 }, note('entry.updated'))).rejects.toSatisfy(conflict),
      ]);
      expect(Object.fromEntries((await store.registrations.listEntries({})).map((e) => [e.id, e.spiffeId.path]))).toEqual({ e1: '/web', e2: '/db' });
      expect((await store.audit.head())?.seq).toBe(head);
    });

    it('refuses the second of two updates made from the same revision (409), so neither is lost silently', async () => {
      const { store } = await open();
      const read = entry('e1', 'node-1', '/web', 10);
      await store.registrations.createEntry(read, note('entry.created'));
      await store.registrations.updateEntry({ ...read, ttl: seconds(60), revision: 2 }, note('entry.updated'));
      const head = (await store.audit.head())?.seq;
      const late = store.registrations.updateEntry({ ...read, ttl: seconds(120), revision: 2 }, note('entry.updated'));
      await expect(late).rejects.toSatisfy((e: unknown) => e instanceof ConflictError && e.code === 'precondition_failed');
      expect(await store.registrations.getEntry('e1')).toMatchObject({ ttl: seconds(60), revision: 2 });
      expect((await store.audit.head())?.seq).toBe(head);
    });

    it('refuses to update an entry deleted meanwhile (404), recording nothing', async () => {
      const { store } = await open();
      await store.registrations.createEntry(entry('e1', 'node-1', '/web', 10), note('entry.created'));
      await store.registrations.deleteEntry('e1', note('entry.deleted'));
      const head = (await store.audit.head())?.seq;
      await expect(store.registrations.updateEntry({ ...entry('e1', 'node-1', '/web', 10), revision: 2 }, note('entry.updated'))).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.audit.head())?.seq).toBe(head);
    });

    it('evicting an agent with revocation revokes what was issued to or through it, and nothing else', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      for (const [serial, agent] of [['01', 'node-1'], ['02', 'node-1'], ['03', 'node-2']] as const) {
        await store.certificates.recordIssued(issued(serial, now, { agent }).record, issued(serial, now).event);
      }
      await store.registrations.setAgentStatus('node-1', 'evicted', now, note('agent.evicted'), true);
      expect((await store.registrations.getAgent('node-1'))?.status).toBe('evicted');
      expect(await store.registrations.credential('01')).toMatchObject({ revocation: 'cessationOfOperation' });
      expect(await store.registrations.credential('02')).toMatchObject({ revocation: 'cessationOfOperation' });
      expect(await store.registrations.credential('03')).toEqual({ certificateDer: Buffer.from('certificate 03'), revocation: null });
      expect(await store.registrations.credential('ff')).toBeUndefined();
    });

    it("reads an agent's standing in one read: the credential as credential() gives it, the status as getAgent() has it, whatever is recorded", async () => {
      const { store } = await open();
      for (const [hash, agent, serial] of [['h1', 'node-1', 'a1'], ['h2', 'node-2', 'a2']] as const) {
        await store.registrations.createToken({ hash, agent, createdAt: 0, expiresAt: 99, createdBy: 'o', creatorSerial: null, usedAt: null }, note('t'));
        await store.registrations.completeAttestation({ tokenHash: hash, now: 10, agent: agentRecord(agent, 10), certificate: issued(serial, 10, { kind: 'agent', agent }).record, events: [] });
      }
      await store.registrations.setAgentStatus('node-2', 'evicted', 20, note('agent.evicted'), true);
      const asked = [['a1', 'node-1'], ['a2', 'node-2'], ['ff', 'node-1'], ['a1', 'node-9'], ['ff', 'node-9']] as const;
      const read = async ([serial, agent]: readonly [string, string]) => ({
        credential: await store.registrations.credential(serial),
        agentStatus: (await store.registrations.getAgent(agent))?.status,
      });
      for (const pair of asked) expect(await store.registrations.agentStanding(pair[0], pair[1]), pair.join(' ')).toEqual(await read(pair));
      expect(await store.registrations.agentStanding('a2', 'node-2')).toMatchObject({ credential: { revocation: 'cessationOfOperation' }, agentStatus: 'evicted' });
      expect(await store.registrations.agentStanding('ff', 'node-9')).toEqual({ credential: undefined, agentStatus: undefined });
    });

    it('records what an eviction revoked in the log, after its status event; nothing when it revoked nothing', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      for (const serial of ['01', '02']) await store.certificates.recordIssued(issued(serial, now, { agent: 'node-1' }).record, issued(serial, now).event);
      await store.registrations.setAgentStatus('node-1', 'evicted', now, { type: 'agent.evicted', actor: 'operator:o', data: {} }, true);
      await store.registrations.setAgentStatus('node-1', 'banned', now, { type: 'agent.banned', actor: 'operator:o', data: {} }, true);
      const events = (await allEvents(store)).slice(2).map((e) => [e.type, e.actor, JSON.parse(e.dataJson)]);
      expect(events).toEqual([
        ['agent.evicted', 'operator:o', {}],
        ['certificates.revoked', 'operator:o', { agent: 'node-1', reason: 'cessationOfOperation', count: 2, revokedAt: now, throughNotAfter: true }],
        ['agent.banned', 'operator:o', {}],
      ]);
    });
  });

  describe('certificate listings', () => {
    it('pages in issuance order without skipping or repeating a record while issuance goes on', async () => {
      const { store } = await open();
      for (let i = 0; i < 60; i++) await store.certificates.recordIssued(issued(serialOf(i)).record, issued(serialOf(i)).event);
      let next = 60;
      const seen = await walk(store, 7, async () => {
        const burst = Array.from({ length: 3 }, () => next++);
        await Promise.all(burst.map((i) => store.certificates.recordIssued(issued(serialOf(i)).record, issued(serialOf(i)).event)));
      });
      // Everything committed before the walk, then a contiguous run of what came during it.
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => serialOf(i)));
      expect(seen.length).toBeGreaterThanOrEqual(60);
      expect(await walk(store, 1000)).toEqual(Array.from({ length: next }, (_, i) => serialOf(i)));
    });

    it.each([
      ['an exact SPIFFE ID', { spiffeId: SpiffeId.parse('spiffe://example.org/ns/a') }, ['01']],
      ['IDs under a prefix, not its look-alikes', { under: SpiffeId.parse('spiffe://example.org/ns/a') }, ['01', '02']],
      ['an agent', { agent: parseAgentName('node-2') }, ['03', '04']],
      ['a serial', { serial: '04' }, ['04']],
      ['certificates active at a time', { activeAt: 1_000 + 3_700 }, ['04']],
      ['certificates active at a time, one at exactly its notAfter among them (RFC 5280: inclusive)', { activeAt: 1_000 + 3_600 }, ['01', '03', '04']],
      ['certificates active at a time, one at exactly its notBefore among them', { activeAt: 1_060 - 30 }, ['01', '03']],
      ['certificates active at a time, one revoked after it among them', { activeAt: 1_025 }, ['01', '02']],
      ['certificates active at a time, not one revoked before it', { activeAt: 1_040 }, ['01', '03']],
      ['issued after a time', { issuedAfter: 1_050 }, ['03', '04']],
      ['issued before a time', { issuedBefore: 1_050 }, ['01', '02']],
      ['revoked ones', { revoked: true }, ['02']],
      ['unrevoked ones', { revoked: false }, ['01', '03', '04']],
    ] as const)('filters by %s', async (_name, filter, expected) => {
      const { store } = await open();
      const records = [
        issued('01', 1_000, { spiffeId: 'spiffe://example.org/ns/a', agent: 'node-1' }),
        issued('02', 1_020, { spiffeId: 'spiffe://example.org/ns/a/svc', agent: 'node-1' }),
        issued('03', 1_060, { spiffeId: 'spiffe://example.org/ns/a-b', agent: 'node-2' }),
        issued('04', 1_080, { spiffeId: 'spiffe://example.org/ns/ab', agent: 'node-2', notAfter: 9_000 }),
      ];
      for (const r of records) await store.certificates.recordIssued(r.record, r.event);
      await store.certificates.revoke({ serial: '02' }, 1_030, 'keyCompromise', (n) => note('revoked', { n }));
      const page = await store.certificates.listCertificates(filter, null, 100);
      expect(page.items.map((c) => c.serial)).toEqual(expected);
    });

    it('summarises every identity ever issued, with live and total counts', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      await store.certificates.recordIssued(issued('01', now - 7_200, { spiffeId: 'spiffe://example.org/a' }).record, note('i'));
      await store.certificates.recordIssued(issued('02', now - 10, { spiffeId: 'spiffe://example.org/a' }).record, note('i'));
      await store.certificates.recordIssued(issued('03', now - 5, { spiffeId: 'spiffe://example.org/b' }).record, note('i'));
      await store.certificates.revoke({ serial: '03' }, now, 'superseded', (n) => note('revoked', { n }));
      const { items: identities, nextCursor } = await store.certificates.listIdentities(now, undefined, null, 100);
      expect(nextCursor).toBeNull();
      expect(identities.map(({ spiffeId, firstIssuedAt, lastIssuedAt, certificates, live }) => ({ spiffeId, firstIssuedAt, lastIssuedAt, certificates, live })))
        .toEqual([
          { spiffeId: 'spiffe://example.org/a', firstIssuedAt: now - 7_200, lastIssuedAt: now - 10, certificates: 2, live: 1 },
          { spiffeId: 'spiffe://example.org/b', firstIssuedAt: now - 5, lastIssuedAt: now - 5, certificates: 1, live: 0 },
        ]);
      expect(await store.certificates.countLive(now)).toBe(1);
    });

    describe('identity pages', () => {
      // Bytewise: "B" < "a", and "-" (0x2d) < "/" (0x2f), so /a-b sorts between /a and /a/b.
      const PATHS = ['/a/b', '/B', '/a', '/a-b', '/a/b/c', '/z'];
      const BYTEWISE = ['/B', '/a', '/a-b', '/a/b', '/a/b/c', '/z'].map((p) => `spiffe://example.org${p}`);

      async function issueEach(store: Datastore, paths: readonly string[], first: number) {
        for (const [i, path] of paths.entries()) {
          await store.certificates.recordIssued(issued(serialOf(first + i), 1_000, { spiffeId: `spiffe://example.org${path}` }).record, note('i'));
        }
      }

      async function walkIds(store: Datastore, limit: number, under?: SpiffeId, between?: () => Promise<void>): Promise<string[]> {
        const ids: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await store.certificates.listIdentities(1_000, under, cursor, limit);
          expect(page.items.length).toBeLessThanOrEqual(limit);
          ids.push(...page.items.map((i) => i.spiffeId));
          cursor = page.nextCursor;
          await between?.();
        } while (cursor);
        return ids;
      }

      it.each([1, 2, 5, 6, 100])('lists every identity once, in bytewise order of ID, in pages of %i', async (limit) => {
        const { store } = await open();
        await issueEach(store, [...PATHS, ...PATHS], 0);
        expect(await walkIds(store, limit)).toEqual(BYTEWISE);
      });

      it.each([
        ['/a', ['/a', '/a/b', '/a/b/c']],
        ['/a/b', ['/a/b', '/a/b/c']],
        ['/B', ['/B']],
        ['/b', []],
      ])('under %s, lists that ID and those below its path, not its siblings that share its letters', async (under, expected) => {
        const { store } = await open();
        await issueEach(store, PATHS, 0);
        const ids = await walkIds(store, 1, SpiffeId.parse(`spiffe://example.org${under}`));
        expect(ids).toEqual(expected.map((p) => `spiffe://example.org${p}`));
      });

      it('counts each identity over all its records, whichever page it falls on', async () => {
        const { store } = await open();
        await issueEach(store, ['/a', '/b', '/a', '/a', '/b'], 0);
        const pages = [await store.certificates.listIdentities(1_000, undefined, null, 1)];
        pages.push(await store.certificates.listIdentities(1_000, undefined, pages[0]!.nextCursor, 1));
        expect(pages.map((p) => p.items.map((i) => [i.spiffeId, i.certificates]))).toEqual([
          [['spiffe://example.org/a', 3]],
          [['spiffe://example.org/b', 2]],
        ]);
        expect(pages[1]!.nextCursor).toBeNull();
      });

      it('a walk meets an identity first issued meanwhile if it sorts after the cursor, and never lists one twice', async () => {
        const { store } = await open();
        await issueEach(store, ['/b', '/d'], 0);
        let turn = 0;
        const ids = await walkIds(store, 1, undefined, async () => {
          if (turn++ === 0) await issueEach(store, ['/a', '/c', '/b', '/d'], 10);
        });
        expect(ids).toEqual(['/b', '/c', '/d'].map((p) => `spiffe://example.org${p}`));
      });

      it.each([
        ['the first page', null, undefined],
        ['a later page under a prefix', Buffer.from('ispiffe://example.org/a').toString('base64url'), '/a'],
      ])('reads %s through an index on spiffe_id in bytewise order, rather than sorting every record', async (_name, cursor, under) => {
        const { store, raw, session } = await open();
        await issueEach(store, PATHS, 0);
        const { sql, params } = identityListQuery(1_000, under ? SpiffeId.parse(`spiffe://example.org${under}`) : undefined, cursor, 10, engine.kind);
        const plan = await explain(engine.kind, inlined(sql, params), raw, session);
        // Where an index path exists the planner takes it once sorting is made dear (PostgreSQL's tables are small here).
        expect(plan).not.toMatch(engine.kind === 'postgres' ? /\bSort\b/ : /TEMP B-TREE/);
        expect(plan).toContain(engine.kind === 'postgres' ? 'certificates_by_spiffe_id_bytewise' : 'certificates_by_spiffe_id');
      });

      it.each([
        ['not base64 of a position', 'nonsense'],
        ['a certificate listing\'s cursor', Buffer.from('c12').toString('base64url')],
        ['a position that is no SPIFFE ID', Buffer.from('ihttps://example.org/a').toString('base64url')],
      ])('refuses %s as a cursor', async (_name, cursor) => {
        const { store } = await open();
        await expect(store.certificates.listIdentities(1_000, undefined, cursor, 10)).rejects.toThrow(
          new InvalidInputError('invalid_request', 'cursor is not one this server gave out'),
        );
      });
    });

    it('prunes expired records with one audit event, and appends nothing when there is nothing to prune', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      await store.certificates.recordIssued(issued('01', now - 90_000, { notAfter: now - 80_000 }).record, note('i'));
      await store.certificates.recordIssued(issued('02', now - 90_000, { notAfter: now - 10 }).record, note('i'));
      await store.certificates.recordIssued(issued('03', now).record, note('i'));
      expect(await store.certificates.pruneExpired(now - 3_600, (count) => note('certificates.pruned', { count }))).toBe(1);
      expect(await store.certificates.pruneExpired(now - 3_600, (count) => note('certificates.pruned', { count }))).toBe(0);
      expect(await walk(store, 10)).toEqual(['02', '03']);
      const events = await allEvents(store);
      expect(events.map((e) => e.type)).toEqual(['i', 'i', 'i', 'certificates.pruned']);
      expect(JSON.parse(events[3]!.dataJson)).toEqual({ count: 1 });
      expect(chainBreaks(events)).toEqual([]);
    });

    it('never gives a pruned record\'s id to a new one: a listing walk begun before the prune meets what is issued after it', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      await store.certificates.recordIssued(issued('01', now).record, note('i'));
      await store.certificates.recordIssued(issued('02', now - 90_000, { notAfter: now - 80_000 }).record, note('i'));
      await store.certificates.recordIssued(issued('03', now - 90_000, { notAfter: now - 80_000 }).record, note('i'));
      const first = await store.certificates.listCertificates({}, null, 2);
      expect(first.items.map((c) => c.serial)).toEqual(['01', '02']);
      await store.certificates.pruneExpired(now - 3_600, (count) => note('certificates.pruned', { count }));
      await store.certificates.recordIssued(issued('04', now).record, note('i'));
      const rest = await store.certificates.listCertificates({}, first.nextCursor, 10);
      expect(rest.items.map((c) => c.serial)).toContain('04');
      expect(await walk(store, 10)).not.toContain('02');
    });
  });

  describe('revocation', () => {
    it('says which serials a revocation revoked, in the order they were issued', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      for (const serial of ['0c', '0a', '0e', '0b']) await store.certificates.recordIssued(issued(serial, now, { spiffeId: 'spiffe://example.org/many' }).record, note('i'));
      await store.certificates.revoke({ serial: '0e' }, now, 'superseded', (count) => note('certificates.revoked', { count }));
      const revoked = await store.certificates.revoke({ spiffeId: SpiffeId.parse('spiffe://example.org/many') }, now, 'keyCompromise', (count) => note('certificates.revoked', { count }));
      expect(revoked).toEqual(['0c', '0a', '0b']);
    });

    it('revokes by serial, SPIFFE ID, agent and issuer, counting only live unrevoked certificates', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store } = await open(clock);
      const records = [
        issued('01', now, { spiffeId: 'spiffe://example.org/a', issuerId: 'x' }),
        issued('02', now, { spiffeId: 'spiffe://example.org/a', issuerId: 'x', agent: 'node-2' }),
        issued('03', now, { spiffeId: 'spiffe://example.org/meshca/agent/node-1', issuerId: 'x', kind: 'agent' }),
        issued('04', now - 7_200, { issuerId: 'x', notAfter: now - 1 }),
        issued('05', now, { spiffeId: 'spiffe://example.org/c', issuerId: 'x', agent: null, kind: 'mint' }),
        issued('06', now, { issuerId: 'y', agent: 'node-3' }),
      ];
      for (const r of records) await store.certificates.recordIssued(r.record, r.event);
      const revoke = (selector: Parameters<Datastore['certificates']['revoke']>[0]) =>
        store.certificates.revoke(selector, now, 'keyCompromise', (count) => note('certificates.revoked', { count }));

      expect(await revoke({ serial: '01' })).toEqual(['01']);
      expect(await revoke({ serial: '01' })).toEqual([]);
      expect(await revoke({ spiffeId: SpiffeId.parse('spiffe://example.org/a') })).toEqual(['02']);
      expect(await revoke({ serial: '04' })).toEqual([]);
      expect(await revoke({ issuerId: 'x', exceptAgentSvids: true })).toEqual(['05']);
      expect(await revoke({ agent: parseAgentName('node-3') })).toEqual(['06']);

      const { lists } = await store.certificates.numberedRevocations(['x', 'y', 'z'], now);
      expect(Object.fromEntries([...lists].map(([id, list]) => [id, list.map((r) => [r.serial, r.reason])]))).toEqual({
        x: [['01', 'keyCompromise'], ['02', 'keyCompromise'], ['05', 'keyCompromise']],
        y: [['06', 'keyCompromise']],
        z: [],
      });
      expect(await store.registrations.credential('03')).toMatchObject({ revocation: null });
      const counts = (await allEvents(store)).filter((e) => e.type === 'certificates.revoked').map((e) => JSON.parse(e.dataJson).count);
      expect(counts).toEqual([1, 0, 1, 0, 1, 1]);
    });

    describe('through a certificate\'s notAfter second (RFC 5280 §4.1.2.5: valid at notAfter itself)', () => {
      const NOT_AFTER = 5_000;
      /** A workload's, an admin's and a serving certificate, all expiring at NOT_AFTER. */
      async function expiringAt(store: Datastore): Promise<void> {
        const records = [
          issued('01', 1_000, { spiffeId: 'spiffe://example.org/a', issuerId: 'x', agent: 'node-1', notAfter: NOT_AFTER }),
          issued('02', 1_000, { spiffeId: 'spiffe://example.org/b', issuerId: 'x', agent: 'node-2', kind: 'admin', notAfter: NOT_AFTER }),
          issued('03', 1_000, { spiffeId: 'spiffe://example.org/c', issuerId: 'y', agent: 'node-3', kind: 'server', notAfter: NOT_AFTER }),
        ];
        for (const r of records) await store.certificates.recordIssued(r.record, r.event);
      }

      it.each([
        { when: 'at notAfter', at: NOT_AFTER, revoked: [['01'], ['02'], ['03']] },
        { when: 'a second after notAfter', at: NOT_AFTER + 1, revoked: [[], [], []] },
      ])('revokes by serial, SPIFFE ID and issuer $when: $revoked', async ({ at, revoked }) => {
        const { store } = await open();
        await expiringAt(store);
        const revoke = (selector: Parameters<Datastore['certificates']['revoke']>[0]) =>
          store.certificates.revoke(selector, at, 'keyCompromise', (count) => note('certificates.revoked', { count }));
        expect([await revoke({ serial: '01' }), await revoke({ spiffeId: SpiffeId.parse('spiffe://example.org/b') }), await revoke({ issuerId: 'y' })])
          .toEqual(revoked);
      });

      it.each([
        { when: 'at notAfter', at: NOT_AFTER, revocation: 'cessationOfOperation' },
        { when: 'a second after notAfter', at: NOT_AFTER + 1, revocation: null },
      ])('revokes what an evicted agent held $when: $revocation', async ({ at, revocation }) => {
        const { store } = await open();
        await expiringAt(store);
        await store.registrations.setAgentStatus('node-1', 'evicted', at, note('agent.evicted'), true);
        expect((await store.registrations.credential('01'))?.revocation).toBe(revocation);
      });

      it.each([
        { when: 'at notAfter', at: NOT_AFTER, revocation: 'superseded' },
        { when: 'a second after notAfter', at: NOT_AFTER + 1, revocation: null },
      ])('supersedes the agent SVID held under a name attested again $when: $revocation', async ({ at, revocation }) => {
        const { store } = await open();
        for (const [hash, serial, now] of [['h1', 'a1', 1_000], ['h2', 'a2', at]] as const) {
          await store.registrations.createToken({ hash, agent: 'node-1', createdAt: 0, expiresAt: 9_999, createdBy: 'o', creatorSerial: null, usedAt: null }, note('t'));
          const certificate = issued(serial, now, { kind: 'agent', notAfter: serial === 'a1' ? NOT_AFTER : now + 3_600 }).record;
          expect(await store.registrations.completeAttestation({ tokenHash: hash, now, agent: agentRecord('node-1', now), certificate, events: [note('agent.attested')] })).toBe(true);
        }
        expect((await store.registrations.credential('a1'))?.revocation).toBe(revocation);
      });

      it.each([
        { when: 'at notAfter', at: NOT_AFTER, listed: ['01'], live: 2, underX: 1, identities: [[0, true], [1, true], [1, true]] },
        { when: 'a second after notAfter', at: NOT_AFTER + 1, listed: [], live: 0, underX: 0, identities: [[0, true], [0, false], [0, false]] },
      ])('lists a revoked one on its issuer\'s CRL, and counts the others live, $when', async ({ at, listed, live, underX, identities }) => {
        const { store } = await open();
        await expiringAt(store);
        await store.certificates.revoke({ serial: '01' }, 2_000, 'keyCompromise', (count) => note('certificates.revoked', { count }));
        // An admin's and a serving identity are registered while one of their certificates is live; a workload's by its entry.
        await store.registrations.createEntry(entry('e1', 'node-1', '/a', 1_000), note('entry.created'));
        expect((await store.certificates.numberedRevocations(['x'], at)).lists.get('x')!.map((r) => r.serial)).toEqual(listed);
        expect(await store.certificates.countLive(at)).toBe(live);
        expect(await store.certificates.liveUnder(['x'], at)).toBe(underX);
        expect((await store.certificates.listIdentities(at, undefined, null, 10)).items.map((i) => [i.live, i.registered])).toEqual(identities);
      });
    });

    it('counts revocations (an eviction\'s included) for other processes to compare, durably, and not issuance', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store, reopen } = await open(clock);
      expect(await store.certificates.revocationCount()).toBe(0);
      await store.certificates.recordIssued(issued('01', now, { agent: 'node-1' }).record, issued('01', now).event);
      expect(await store.certificates.revocationCount()).toBe(0);
      await store.certificates.revoke({ serial: '01' }, now, 'keyCompromise', (count) => note('certificates.revoked', { count }));
      expect(await store.certificates.revocationCount()).toBe(1);
      await store.registrations.setAgentStatus('node-1', 'evicted', now, note('agent.evicted'), true);
      expect(await store.certificates.revocationCount()).toBe(2);
      await store.registrations.setAgentStatus('node-1', 'active', now, note('agent.unbanned'), false);
      expect(await (await reopen()).certificates.revocationCount()).toBe(2);
    });

    it('numbers CRLs in sequence from the clock\'s milliseconds, durably, each with the revocation count its lists hold', async () => {
      const clock = new FakeClock();
      const now = clock.nowSeconds();
      const { store, reopen } = await open(clock);
      const numbered = async (s: Datastore) => {
        const { crlNumber, revocations, lists } = await s.certificates.numberedRevocations(['x'], now);
        return { crlNumber, revocations, serials: lists.get('x')!.map((r) => r.serial) };
      };
      expect(await numbered(store)).toEqual({ crlNumber: now * 1000, revocations: 0, serials: [] });
      await store.certificates.recordIssued(issued('01', now, { issuerId: 'x' }).record, issued('01', now).event);
      await store.certificates.revoke({ serial: '01' }, now, 'keyCompromise', (count) => note('certificates.revoked', { count }));
      expect(await numbered(store)).toEqual({ crlNumber: now * 1000 + 1, revocations: 1, serials: ['01'] });
      expect(await numbered(await reopen())).toEqual({ crlNumber: now * 1000 + 2, revocations: 1, serials: ['01'] });
    });

    it('numbers a later CRL above an earlier one even from a datastore that has drawn fewer numbers (one restored from a backup)', async () => {
      const clock = new FakeClock();
      const { store: busy } = await open(clock);
      let published = 0;
      for (let i = 0; i < 5; i++) published = (await busy.certificates.numberedRevocations(['x'], clock.nowSeconds())).crlNumber;
      clock.advance(1);
      const { store: restored } = await open(clock);
      expect((await restored.certificates.numberedRevocations(['x'], clock.nowSeconds())).crlNumber).toBeGreaterThan(published);
    });
  });

  describe('CA key custody', () => {
    it('keeps a key it can give back, lists it, and names a missing one', async () => {
      const { store } = await open(new FakeClock(), 'the right passphrase');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await store.custody.save('key-1', privateKey);
      const loaded = await store.custody.load('key-1');
      expect(loaded.export({ format: 'jwk' })).toEqual(privateKey.export({ format: 'jwk' }));
      expect(await store.custody.list()).toContain('key-1');
      await expect(store.custody.load('key-2')).rejects.toBeInstanceOf(CaIntegrityError);
    });

    it('never writes a key over another: a second key under one reference is refused and the first stays; the same key again (a change retried) is taken', async () => {
      const { store } = await open(new FakeClock(), 'the right passphrase');
      const [first, second] = [0, 1].map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
      await store.custody.save('key-1', first!);
      await expect(store.custody.save('key-1', second!)).rejects.toThrow(CaIntegrityError);
      await expect(store.custody.save('key-1', first!)).resolves.toBeUndefined();
      expect((await store.custody.load('key-1')).equals(first!)).toBe(true);
    });

    it('refuses to load a key with the wrong passphrase', async () => {
      const { store, reopen } = await open(new FakeClock(), 'the right passphrase');
      await store.custody.save('key-1', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
      const wrong = await reopen('a wrong passphrase');
      await expect(wrong.custody.load('key-1')).rejects.toThrow(CaIntegrityError);
    });
  });

  describe('the lifecycle coordinator', () => {
    it('runs lifecycle work and hands back its result', async () => {
      const { store } = await open();
      expect(await store.coordinator.exclusive(async () => 42)).toBe(42);
    });
  });
});

describe.each(ENGINES.filter((e) => e.kind === 'postgres'))('the $name datastore, beside another replica', (engine) => {
  it('reads CRL lists only once their number is drawn: a revocation that commits while another generation holds the number is in them', async () => {
    const clock = new FakeClock();
    const now = clock.nowSeconds();
    const { store, session } = await engine.open(clock);
    const r = issued('01', now, { issuerId: 'x' });
    await store.certificates.recordIssued(r.record, r.event);
    const before = await store.certificates.numberedRevocations(['x'], now);

    // The other replica's generation has drawn the next number and not committed yet.
    const other = await session!();
    await other.query('BEGIN');
    await other.query("UPDATE ca_state SET value = value + 1 WHERE name = 'crl_number'");
    const numbering = store.certificates.numberedRevocations(['x'], now);
    while ((await other.query('SELECT 1 FROM pg_locks WHERE NOT granted')).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await store.certificates.revoke({ serial: '01' }, now, 'keyCompromise', (count) => note('certificates.revoked', { count }));
    await other.query('COMMIT');

    // Numbered above the other generation's lists, which were read before the revocation: it must list it.
    const after = await numbering;
    expect(after.crlNumber).toBe(before.crlNumber + 2);
    expect(after.lists.get('x')!.map((e) => e.serial)).toEqual(['01']);
  });
});

describe.each(ENGINES.filter((e) => e.kind === 'postgres'))('the $name datastore\'s key custody, after an earlier build', (engine) => {
  it('loads a key encrypted with the bare passphrase, and encryptAtRest writes it again under the stretched one', async () => {
    const { store, raw } = await engine.open(new FakeClock(), 'the passphrase');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const legacy = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'the passphrase' }) as string;
    await raw(`INSERT INTO ca_keys (ref, pem) VALUES ('legacy', '${legacy}')`);
    expect((await store.custody.load('legacy')).equals(privateKey)).toBe(true);
    expect(await store.custody.encryptAtRest()).toEqual(['legacy']);
    const [row] = (await raw("SELECT pem FROM ca_keys WHERE ref = 'legacy'")) as Array<{ pem: string }>;
    expect(row!.pem).toMatch(/^meshca-key-kdf: scrypt N=32768 r=8 p=1 salt=\S+\n-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(await store.custody.encryptAtRest()).toEqual([]);
    expect((await store.custody.load('legacy')).equals(privateKey)).toBe(true);
  });
});
