/**
 * The registration records held to the log, on each datastore: an agent's
 * standing, a join token or an entry written around the API (an agent
 * un-banned, a token inserted or made unused again, an entry given another
 * lifetime or DNS names, inserted or deleted) is named by `meshca audit
 * verify`, over the API and offline, at the event it contradicts. A history
 * of every legitimate change verifies, and so do changes committed while the
 * log is walked.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyStoredAudit } from '../../src/ca/audit-service.js';
import type { StoredEvent, VerificationResult } from '../../src/ca/audit-verifier.js';
import { verifyOverApi } from '../support/audit-log.js';
import { caEngines, eventRows, rechainFrom, restore, snapshot, type Snapshot, type TamperableCa } from '../support/ca-engines.js';
import { adminCredential, asOperator, attestAgent, callCa, joinToken, newKeyAndCsr } from '../support/callers.js';
import { serialOf } from '../support/revocations.js';
import { waitFor } from '../support/wait.js';
import { registerWorkload } from '../support/workloads.js';

const ALTERED = 'the registration records were altered';
const FORGED_ENTRY = '11111111-2222-4333-8444-555555555555';
const FORGED_HASH = 'ab'.repeat(32);

/** Over the API and without the server: the two must agree. */
async function verifyBoth(t: TamperableCa): Promise<VerificationResult> {
  const online = await verifyOverApi(t.ca);
  expect(await t.verifyOffline()).toEqual(online);
  return online;
}

const agentAction = (t: TamperableCa, name: string, action: 'evict' | 'ban' | 'unban') => asOperator(t.ca, 'POST', `/v1/agents/${name}/${action}`);

/** The events of the history the cases aim at. */
interface History {
  readonly head: number;
  /** The event of `type` whose data has `key` = `value` (the last one). */
  seqOf(type: string, key: string, value: unknown): number;
  readonly entries: { readonly updated: string; readonly deleted: string; readonly plain: string };
  /** The hash of the token each agent's `token.created` names, by agent. */
  tokenOf(agent: string): string;
  /** The token revoked before use (node-7's). */
  readonly revokedToken: string;
  /** The serial of the remote operator's credential that made node-11's token. */
  readonly remoteOperator: string;
}

/**
 * Every kind of registration change, through the API: entries created,
 * updated and deleted; tokens created, spent, revoked, left unused and expired; agents
 * attested (one twice), evicted, banned, unbanned, and names evicted and
 * banned that never attested (which voids their tokens).
 */
async function makeHistory(t: TamperableCa): Promise<History> {
  const updated = await registerWorkload(t.ca, 'node-1', 'spiffe://example.org/ns/web', { ttl: '5m', dns: ['web.example.org'] });
  await asOperator(t.ca, 'PATCH', `/v1/entries/${updated}`, { ttl: '10m', dns: ['web.example.org', 'www.example.org'] });
  const deleted = await registerWorkload(t.ca, 'node-1', 'spiffe://example.org/ns/gone');
  await asOperator(t.ca, 'DELETE', `/v1/entries/${deleted}`);
  const plain = await registerWorkload(t.ca, 'node-1', 'spiffe://example.org/ns/plain');
  await attestAgent(t.ca, 'node-1');
  // Attested again under the same name (a re-provisioned node).
  await attestAgent(t.ca, 'node-1');
  await joinToken(t.ca, 'node-2');
  await joinToken(t.ca, 'node-3');
  await agentAction(t, 'node-3', 'evict');
  await joinToken(t.ca, 'node-8');
  await agentAction(t, 'node-8', 'ban');
  await attestAgent(t.ca, 'node-4');
  await agentAction(t, 'node-4', 'ban');
  // A token revoked before any agent used it.
  const revoked = (await asOperator(t.ca, 'POST', '/v1/tokens', { agent: 'node-7' })) as { id: string; token: string };
  await asOperator(t.ca, 'POST', `/v1/tokens/${revoked.id}/revoke`);
  // A token a remote operator made: its record and its event name the credential that made it.
  const olga = await adminCredential(t.ca, 'operator', 'olga');
  expect((await callCa(t.ca, olga, 'POST', '/v1/tokens', { agent: 'node-11' })).status).toBe(201);
  await attestAgent(t.ca, 'node-5');
  await agentAction(t, 'node-5', 'evict');
  await agentAction(t, 'node-5', 'ban');
  await agentAction(t, 'node-5', 'unban');
  // Expired unused, and refused once expired: nothing is recorded for that.
  const expiring = await joinToken(t.ca, 'node-6', '1s');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect((await callCa(t.ca, undefined, 'POST', '/v1/agent/attest', { token: expiring, csr: (await newKeyAndCsr()).csr })).status).toBe(401);
  // Its auth.failed event is appended after the answer: waited for, so that the history's head counts it.
  await waitFor('the refusal\'s auth.failed event', async () => (await eventRows(t)).some((r) => r.type === 'auth.failed'), 5_000, 10);
  // A new intermediate (the active one tainted) while agents and entries stand.
  const active = t.ca.manager.current().activeIntermediate()!.record.id;
  expect((await t.ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${active}/taint` })).statusCode).toBe(200);
  // The taint revoked the CA's serving certificate, which it reissues in the background, its issuance event appended
  // after the answer: the lifecycle check waits for that renewal, so that the history's head counts it.
  await t.ca.tick();
  await t.ca.core.audit.checkpoint();

  const rows = await eventRows(t);
  const data = rows.map((r) => ({ seq: r.seq, type: r.type, data: JSON.parse(r.data) as Record<string, unknown> }));
  return {
    head: rows.at(-1)!.seq,
    seqOf: (type, key, value) => data.filter((e) => e.type === type && e.data[key] === value).at(-1)!.seq,
    entries: { updated, deleted, plain },
    tokenOf: (agent) => String(data.filter((e) => e.type === 'token.created' && e.data['agent'] === agent).at(-1)!.data['tokenHash']),
    revokedToken: revoked.token,
    remoteOperator: serialOf(olga.chainPem),
  };
}

interface Case {
  readonly name: string;
  readonly tamper: (t: TamperableCa, h: History) => Promise<unknown>;
  readonly problem: (h: History) => { seq: number; reason: string };
}

const tokenSql = (set: string) => `UPDATE join_tokens SET ${set} WHERE substr(hash, 1, 16) = ?`;

/** A case where `agent`'s token is recorded with creator serial `to`, other than its token.created gave (node-11's: the remote operator's). */
function creatorSerialCase(name: string, agent: string, to: string | null): Case {
  return {
    name,
    tamper: (t, h) => t.sql(tokenSql(`creator_serial = ${to === null ? 'NULL' : `'${to}'`}`), h.tokenOf(agent)),
    problem: (h) => {
      const seq = h.seqOf('token.created', 'agent', agent);
      const logged = agent === 'node-11' ? h.remoteOperator : null;
      return {
        seq,
        reason: `event ${seq} (token.created) creates join token ${h.tokenOf(agent)}… of agent ${agent} with creator serial ${JSON.stringify(logged)}, ` +
          `but it is recorded with creator serial ${JSON.stringify(to)}: ${ALTERED}`,
      };
    },
  };
}

const CASES: readonly Case[] = [
  {
    name: 'an agent un-banned by editing its status',
    tamper: (t) => t.sql("UPDATE agents SET status = 'evicted' WHERE name = 'node-4'"),
    problem: (h) => {
      const seq = h.seqOf('agent.banned', 'agent', 'node-4');
      return { seq, reason: `event ${seq} (agent.banned) leaves agent node-4 banned, but it is recorded as evicted: ${ALTERED}` };
    },
  },
  {
    name: 'an evicted agent set active',
    tamper: (t) => t.sql("UPDATE agents SET status = 'active' WHERE name = 'node-3'"),
    problem: (h) => {
      const seq = h.seqOf('agent.evicted', 'agent', 'node-3');
      return { seq, reason: `event ${seq} (agent.evicted) leaves agent node-3 evicted, but it is recorded as active: ${ALTERED}` };
    },
  },
  {
    name: 'an unbanned agent banned again by editing (the log says evicted)',
    tamper: (t) => t.sql("UPDATE agents SET status = 'banned' WHERE name = 'node-5'"),
    problem: (h) => {
      const seq = h.seqOf('agent.unbanned', 'agent', 'node-5');
      return { seq, reason: `event ${seq} (agent.unbanned) leaves agent node-5 evicted, but it is recorded as banned: ${ALTERED}` };
    },
  },
  {
    name: 'an agent row inserted',
    tamper: (t) => t.sql("INSERT INTO agents (name, status, attested_at, status_changed_at) VALUES ('node-x', 'active', 0, 0)"),
    problem: (h) => ({ seq: h.head + 1, reason: `agent node-x is recorded as active, but no event of the log recorded it: ${ALTERED}` }),
  },
  {
    name: 'an agent row deleted',
    tamper: (t) => t.sql("DELETE FROM agents WHERE name = 'node-4'"),
    problem: (h) => {
      const seq = h.seqOf('agent.banned', 'agent', 'node-4');
      return { seq, reason: `event ${seq} (agent.banned) leaves agent node-4 banned, but it is no longer recorded: ${ALTERED}` };
    },
  },
  {
    name: 'a join token row inserted (to attest as any name)',
    tamper: (t) => t.sql("INSERT INTO join_tokens (hash, agent, created_at, expires_at, created_by, used_at) VALUES (?, 'node-x', 0, 4102444800, 'operator:x', NULL)", FORGED_HASH),
    problem: (h) => ({
      seq: h.head + 1,
      reason: `join token ${FORGED_HASH.slice(0, 16)}… of agent node-x is recorded, but no event of the log created it: ${ALTERED}`,
    }),
  },
  {
    name: 'a spent join token made unused again',
    tamper: (t, h) => t.sql(tokenSql('used_at = NULL'), h.tokenOf('node-4')),
    problem: (h) => {
      const seq = h.seqOf('token.used', 'tokenHash', h.tokenOf('node-4'));
      return { seq, reason: `event ${seq} (token.used) spends join token ${h.tokenOf('node-4')}… of agent node-4, but it is recorded unused: ${ALTERED}` };
    },
  },
  {
    name: 'a join token the eviction of a name that never attested voided, made unused again',
    tamper: (t, h) => t.sql(tokenSql('used_at = NULL'), h.tokenOf('node-3')),
    problem: (h) => {
      const seq = h.seqOf('agent.evicted', 'agent', 'node-3');
      return { seq, reason: `event ${seq} (agent.evicted) voids join token ${h.tokenOf('node-3')}… of agent node-3, but it is recorded unused: ${ALTERED}` };
    },
  },
  {
    name: 'a join token a ban voided, made unused again',
    tamper: (t, h) => t.sql(tokenSql('used_at = NULL'), h.tokenOf('node-8')),
    problem: (h) => {
      const seq = h.seqOf('agent.banned', 'agent', 'node-8');
      return { seq, reason: `event ${seq} (agent.banned) voids join token ${h.tokenOf('node-8')}… of agent node-8, but it is recorded unused: ${ALTERED}` };
    },
  },
  {
    name: 'a join token revoked before use, made unused again',
    tamper: (t, h) => t.sql(tokenSql('used_at = NULL'), h.tokenOf('node-7')),
    problem: (h) => {
      const seq = h.seqOf('token.revoked', 'agent', 'node-7');
      return { seq, reason: `event ${seq} (token.revoked) voids join token ${h.tokenOf('node-7')}… of agent node-7, but it is recorded unused: ${ALTERED}` };
    },
  },
  {
    name: "an unused join token's agent changed",
    tamper: (t, h) => t.sql(tokenSql("agent = 'node-9'"), h.tokenOf('node-2')),
    problem: (h) => {
      const seq = h.seqOf('token.created', 'agent', 'node-2');
      return { seq, reason: expect.stringMatching(new RegExp(`^event ${seq} \\(token.created\\) creates join token ${h.tokenOf('node-2')}… for agent node-2 expiring at \\d+, but it is recorded for agent node-9 expiring at \\d+: ${ALTERED}$`)) };
    },
  },
  {
    name: "an expired join token's expiry moved (to make it usable again)",
    tamper: (t, h) => t.sql(tokenSql('expires_at = expires_at + 86400'), h.tokenOf('node-6')),
    problem: (h) => {
      const seq = h.seqOf('token.created', 'agent', 'node-6');
      return { seq, reason: expect.stringMatching(new RegExp(`^event ${seq} \\(token.created\\) creates join token .* but it is recorded for agent node-6 expiring at \\d+: ${ALTERED}$`)) };
    },
  },
  creatorSerialCase("a remote operator's token, the serial of the credential that made it cleared (so that it outlives that credential's revocation)", 'node-11', null),
  creatorSerialCase("a remote operator's token given another credential's serial", 'node-11', 'abcdef'),
  creatorSerialCase("the local operator's token given a creator serial", 'node-2', 'abcdef'),
  {
    name: "an entry's ttl changed",
    tamper: (t, h) => t.sql('UPDATE entries SET ttl = 86400 WHERE id = ?', h.entries.updated),
    problem: (h) => {
      const seq = h.seqOf('entry.updated', 'id', h.entries.updated);
      return { seq, reason: `event ${seq} (entry.updated) gives entry ${h.entries.updated} ttl 600, but it is recorded with 86400: ${ALTERED}` };
    },
  },
  {
    name: "an entry's DNS names changed",
    tamper: (t, h) => t.sql('UPDATE entries SET dns_names = ? WHERE id = ?', '["bank.example.com"]', h.entries.updated),
    problem: (h) => {
      const seq = h.seqOf('entry.updated', 'id', h.entries.updated);
      return { seq, reason: `event ${seq} (entry.updated) gives entry ${h.entries.updated} dnsNames ["web.example.org","www.example.org"], but it is recorded with ["bank.example.com"]: ${ALTERED}` };
    },
  },
  {
    name: "an entry's agent changed before any SVID was issued under it",
    tamper: (t, h) => t.sql("UPDATE entries SET agent = 'node-9' WHERE id = ?", h.entries.plain),
    problem: (h) => {
      const seq = h.seqOf('entry.created', 'id', h.entries.plain);
      return { seq, reason: `event ${seq} (entry.created) gives entry ${h.entries.plain} agent "node-1", but it is recorded with "node-9": ${ALTERED}` };
    },
  },
  {
    name: "an entry's SPIFFE ID changed before any SVID was issued under it",
    tamper: (t, h) => t.sql("UPDATE entries SET spiffe_id = 'spiffe://example.org/ns/prod/payments-db' WHERE id = ?", h.entries.plain),
    problem: (h) => {
      const seq = h.seqOf('entry.created', 'id', h.entries.plain);
      return {
        seq,
        reason: `event ${seq} (entry.created) gives entry ${h.entries.plain} spiffeId "spiffe://example.org/ns/plain", but it is recorded with "spiffe://example.org/ns/prod/payments-db": ${ALTERED}`,
      };
    },
  },
  {
    name: 'an entry row inserted',
    tamper: (t, h) =>
      t.sql(
        "INSERT INTO entries (id, agent, spiffe_id, ttl, dns_names, created_at, updated_at, revision) SELECT ?, agent, 'spiffe://example.org/ns/forged', ttl, dns_names, created_at, updated_at, 1 FROM entries WHERE id = ?",
        FORGED_ENTRY, h.entries.plain,
      ),
    problem: (h) => ({ seq: h.head + 1, reason: `entry ${FORGED_ENTRY} is recorded, but no event of the log created it: ${ALTERED}` }),
  },
  {
    name: 'an entry row deleted',
    tamper: (t, h) => t.sql('DELETE FROM entries WHERE id = ?', h.entries.plain),
    problem: (h) => {
      const seq = h.seqOf('entry.created', 'id', h.entries.plain);
      return { seq, reason: `event ${seq} (entry.created) records entry ${h.entries.plain}, which is no longer recorded though no event deleted it: ${ALTERED}` };
    },
  },
  {
    name: 'an entry the log deleted, its row inserted again',
    tamper: (t, h) =>
      t.sql(
        "INSERT INTO entries (id, agent, spiffe_id, ttl, dns_names, created_at, updated_at, revision) SELECT ?, agent, 'spiffe://example.org/ns/gone', ttl, dns_names, created_at, updated_at, 1 FROM entries WHERE id = ?",
        h.entries.deleted, h.entries.plain,
      ),
    problem: (h) => {
      const seq = h.seqOf('entry.deleted', 'id', h.entries.deleted);
      return { seq, reason: `event ${seq} (entry.deleted) deleted entry ${h.entries.deleted}, but it is recorded again: ${ALTERED}` };
    },
  },
];

const engines = await caEngines();

describe.each(engines)('registration records against the log ($name)', (engine) => {
  let t: TamperableCa;
  let history: History;
  let before: Snapshot;

  beforeAll(async () => {
    t = await engine.start();
    history = await makeHistory(t);
    before = await snapshot(t);
  });
  beforeEach(async () => expect(await verifyBoth(t)).toMatchObject({ ok: true, events: history.head }));
  afterEach(() => restore(t, before));

  it.each(CASES)('fail/$name: named at the event it contradicts', async ({ tamper, problem }) => {
    await tamper(t, history);
    const result = await verifyBoth(t);
    const expected = problem(history);
    // The log verified up to the event the record goes back to, though the record is named after the walk.
    expect({ ok: result.ok, problem: result.problem, events: result.events }).toEqual({ ok: false, problem: expected, events: Math.min(history.head, expected.seq - 1) });
  });

  it('fail/a revoked join token made unused around the API, then used to attest: named at the attestation that spent it again', async () => {
    const id = history.tokenOf('node-7');
    await t.sql(tokenSql('used_at = NULL'), id);
    const attested = await callCa(t.ca, undefined, 'POST', '/v1/agent/attest', { token: history.revokedToken, csr: (await newKeyAndCsr()).csr });
    expect(attested.status).toBe(200);
    const used = (await eventRows(t)).filter((e) => e.type === 'token.used' && JSON.parse(e.data).tokenHash === id).map((e) => e.seq);
    expect(used).toHaveLength(1);
    const revokedAt = history.seqOf('token.revoked', 'agent', 'node-7');
    const result = await verifyBoth(t);
    expect({ ok: result.ok, problem: result.problem }).toEqual({
      ok: false,
      problem: { seq: used[0], reason: `event ${used[0]} (token.used) spends join token ${id}… of agent node-7, which event ${revokedAt} (token.revoked) had already spent: ${ALTERED}` },
    });
  });

  it.each([
    ['agent.banned', '{"from":"active"}', 'names no agent'],
    ['token.created', '{"agent":"node-1"}', 'names no join token'],
    ['entry.deleted', 'null', 'names no entry'],
  ])('fail/a %s event whose data is %s (rechained): named as altered', async (type, data, says) => {
    await t.guardAudit(false);
    await t.sql('UPDATE audit_events SET type = ?, data = ? WHERE seq = ?', type, data, history.head);
    await rechainFrom(t, history.head);
    await t.guardAudit(true);
    const result = await verifyBoth(t);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: false, problem: { seq: history.head, reason: `event ${history.head} (${type}) ${says}: its data was altered` } });
  });

  it('pass/an eviction logged as by a build before evictions said they voided tokens (none voided) still verifies', async () => {
    await joinToken(t.ca, 'node-7');
    await attestAgent(t.ca, 'node-7');
    await joinToken(t.ca, 'node-7');
    await agentAction(t, 'node-7', 'evict');
    // What such a build left: the status event without voidsTokens, the token made before it still unused.
    const evicted = (await eventRows(t)).filter((e) => e.type === 'agent.evicted').at(-1)!;
    const data = JSON.parse(evicted.data) as Record<string, unknown>;
    expect(data).toEqual({ agent: 'node-7', from: 'active', voidsTokens: true });
    await t.guardAudit(false);
    await t.sql('UPDATE audit_events SET data = ? WHERE seq = ?', JSON.stringify({ agent: 'node-7', from: 'active' }), evicted.seq);
    await rechainFrom(t, evicted.seq);
    await t.guardAudit(true);
    const unused = (await eventRows(t)).filter((e) => e.type === 'token.created').map((e) => String(JSON.parse(e.data).tokenHash)).at(-1)!;
    await t.sql(tokenSql('used_at = NULL'), unused);
    expect((await verifyBoth(t)).ok).toBe(true);
  });

  it('pass/an entry updated after its deletion, as builds before 5c53eaf on PostgreSQL could log a racing update, stays deleted and verifies', async () => {
    const entry = await registerWorkload(t.ca, 'node-1', 'spiffe://example.org/ns/raced-update');
    await asOperator(t.ca, 'PATCH', `/v1/entries/${entry}`, { ttl: '1m' });
    await asOperator(t.ca, 'DELETE', `/v1/entries/${entry}`);
    // The update and the deletion swapped, as such a build committed them.
    const [updated, deleted] = (await eventRows(t)).filter((e) => e.type.startsWith('entry.') && JSON.parse(e.data).id === entry).slice(-2);
    expect([updated!.type, deleted!.type]).toEqual(['entry.updated', 'entry.deleted']);
    await t.guardAudit(false);
    for (const [seq, e] of [[updated!.seq, deleted!], [deleted!.seq, updated!]] as const) {
      await t.sql('UPDATE audit_events SET type = ?, data = ? WHERE seq = ?', e.type, e.data, seq);
    }
    await rechainFrom(t, updated!.seq);
    await t.guardAudit(true);
    expect((await verifyBoth(t)).ok).toBe(true);
  });

  it('pass/registration changes committed while the log is walked (after the records were read) are no false alarm', async () => {
    const store = t.ca.store.audit;
    const walked = Object.create(store) as typeof store;
    let raced = 0;
    walked.events = (fromSeq, sinceAt) => changingAfterFirst(store.events(fromSeq, sinceAt), async () => {
      raced = (await eventRows(t)).at(-1)!.seq;
      const entry = await registerWorkload(t.ca, 'node-1', 'spiffe://example.org/ns/raced');
      await asOperator(t.ca, 'PATCH', `/v1/entries/${entry}`, { ttl: '1m' });
      await asOperator(t.ca, 'DELETE', `/v1/entries/${history.entries.plain}`);
      await attestAgent(t.ca, 'node-10');
      await agentAction(t, 'node-1', 'ban');
      await joinToken(t.ca, 'node-2');
    });
    const result = await verifyStoredAudit(t.ca.store.authorities, walked);
    expect(raced).toBeGreaterThan(0);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: true, problem: undefined });
    // The changes were walked: the log had grown past what the records were read with.
    expect(result.events).toBeGreaterThan(raced + 6);
  });
});

/** The events as they are read, with `change` committed once the first has been walked. */
async function* changingAfterFirst(events: AsyncIterable<StoredEvent>, change: () => Promise<void>): AsyncGenerator<StoredEvent> {
  let first = true;
  for await (const e of events) {
    yield e;
    if (first) await change();
    first = false;
  }
}
