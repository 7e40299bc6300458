/**
 * Join tokens as operators manage them: listed while they can still admit an
 * agent (never the token itself), and revoked before use without touching the
 * agent they name. Who may call these routes is in access-matrix.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { asOperator, attestAgent, callCa, newKeyAndCsr, type Credential } from '../support/callers.js';
import { FakeClock } from '../support/fake-clock.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

interface Created {
  token: string;
  id: string;
  agent: string;
  expiresAt: string;
}

interface Listed {
  id: string;
  agent: string;
  createdAt: string;
  expiresAt: string;
  createdBy: string;
  creatorSerial: string | null;
}

const create = (ca: TestCa, agent: string, ttl = '10m'): Promise<Created> => asOperator(ca, 'POST', '/v1/tokens', { agent, ttl });
const inject = async (ca: TestCa, method: 'GET' | 'POST', url: string) => {
  const res = await ca.localApp.inject({ method, url });
  return { status: res.statusCode, body: res.json() as Record<string, any> };
};
const list = async (ca: TestCa, query = ''): Promise<{ tokens: Listed[]; nextCursor: string | null }> => asOperator(ca, 'GET', `/v1/tokens${query}`);
const revoke = (ca: TestCa, id: string) => inject(ca, 'POST', `/v1/tokens/${id}/revoke`);
const attest = async (ca: TestCa, token: string) => callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });

/** The audit log's events of one type, from its JSON-lines export. */
async function events(ca: TestCa, type: string): Promise<Array<{ actor: string; data: Record<string, unknown> }>> {
  const res = await ca.localApp.inject({ method: 'GET', url: '/v1/audit/events' });
  const all = res.body.trim().split('\n').map((line) => JSON.parse(line) as { type: string; actor: string; data: Record<string, unknown> });
  return all.filter((e) => e.type === type).map((e) => ({ actor: e.actor, data: e.data }));
}

describe('token list', () => {
  it('shows each token that can still admit an agent, by id, agent, times and creator, soonest to expire first, and never the token', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 27, 12, 0, 0));
    const ca = await startTestCa({}, { clock });
    const late = await create(ca, 'node-a', '1h');
    const soon = await create(ca, 'node-b', '5m');
    const middle = await create(ca, 'node-a', '30m');

    const { tokens, nextCursor } = await list(ca);
    expect(tokens).toEqual([
      { id: soon.id, agent: 'node-b', createdAt: '2026-11-27T12:00:00.000Z', expiresAt: '2026-11-27T12:05:00.000Z', createdBy: 'operator:local', creatorSerial: null },
      { id: middle.id, agent: 'node-a', createdAt: '2026-11-27T12:00:00.000Z', expiresAt: '2026-11-27T12:30:00.000Z', createdBy: 'operator:local', creatorSerial: null },
      { id: late.id, agent: 'node-a', createdAt: '2026-11-27T12:00:00.000Z', expiresAt: '2026-11-27T13:00:00.000Z', createdBy: 'operator:local', creatorSerial: null },
    ]);
    expect(nextCursor).toBeNull();
    expect(late.id).toMatch(/^[0-9a-f]{16}$/);
    const shown = JSON.stringify(tokens);
    for (const t of [late, soon, middle]) expect(shown).not.toContain(t.token);
    expect((await list(ca, '?agent=node-a')).tokens.map((t) => t.id)).toEqual([middle.id, late.id]);
  });

  it('leaves out a token once used, revoked, voided by an eviction, or expired', async () => {
    const clock = new FakeClock(Date.now());
    const ca = await startTestCa({}, { clock });
    const used = await create(ca, 'node-used');
    const revoked = await create(ca, 'node-revoked');
    await create(ca, 'node-evicted');
    await create(ca, 'node-late', '1m');
    const kept = await create(ca, 'node-kept');
    expect((await list(ca)).tokens).toHaveLength(5);

    expect((await attest(ca, used.token)).status).toBe(200);
    expect((await revoke(ca, revoked.id)).status).toBe(200);
    await asOperator(ca, 'POST', '/v1/agents/node-evicted/evict');
    clock.advance(60);
    expect((await list(ca)).tokens.map((t) => t.id)).toEqual([kept.id]);
  });

  it('pages: a walk two at a time lists every token once, while more are made during the walk', async () => {
    const ca = await startTestCa();
    const made = new Set<string>();
    // Equal lifetimes made in one second tie on expiry: the id breaks the tie, and the cursor passes it.
    for (let i = 0; i < 7; i++) made.add((await create(ca, `node-${i}`)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { tokens: Listed[]; nextCursor: string | null } = await list(ca, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.tokens.length).toBeLessThanOrEqual(2);
      seen.push(...page.tokens.map((t) => t.id));
      cursor = page.nextCursor;
      if (seen.length === 2) made.add((await create(ca, 'node-late', '1h')).id);
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(made);
  });

  it.each([
    ['a cursor this CA never gave', '?cursor=bm9wZQ', 'cursor is not one this server gave out'],
    ['a page over the largest', '?limit=1001', 'limit must be at most 1000'],
    ['a malformed agent name', '?agent=a%2Fb', 'querystring/agent'],
    ['an unknown parameter', '?spiffeId=x', 'spiffeId'],
  ])('refuses %s with 400 invalid_request', async (_what, query, says) => {
    const ca = await startTestCa();
    const res = await inject(ca, 'GET', `/v1/tokens${query}`);
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 400, code: 'invalid_request' });
    expect(res.body.error.message).toContain(says);
  });
});

describe('token revoke', () => {
  it('voids the token before use, with an event naming who did it; the agent it names keeps its SVID and its standing', async () => {
    const ca = await startTestCa();
    const agent: Credential = await attestAgent(ca, 'node-1');
    const spare = await create(ca, 'node-1');

    const res = await revoke(ca, spare.id);
    expect(res).toEqual({ status: 200, body: { id: spare.id, agent: 'node-1', revokedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } });
    const refused = await attest(ca, spare.token);
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({ status: 401, code: 'invalid_token' });
    expect((await callCa(ca, agent, 'GET', '/v1/agent/entries')).status).toBe(200);
    expect((await asOperator(ca, 'GET', '/v1/agents')).agents.map((a: { name: string; status: string }) => [a.name, a.status])).toEqual([['node-1', 'active']]);
    expect(await events(ca, 'token.revoked')).toEqual([{ actor: 'operator:local', data: { agent: 'node-1', tokenHash: spare.id } }]);
  });

  it.each([
    { what: 'revoked before', spend: (ca: TestCa, t: Created) => revoke(ca, t.id), says: 'was already revoked at ISO' },
    {
      what: 'used by an attestation',
      spend: (ca: TestCa, t: Created) => attest(ca, t.token),
      says: 'was used at ISO: agent node-1 attested with it; if that was not yours, evict the agent (meshca agent evict node-1)',
    },
    { what: 'voided by evicting its agent', spend: (ca: TestCa, t: Created) => asOperator(ca, 'POST', `/v1/agents/${t.agent}/evict`), says: 'was voided at ISO, when agent node-1 was evicted' },
    { what: 'voided by banning its agent', spend: (ca: TestCa, t: Created) => asOperator(ca, 'POST', `/v1/agents/${t.agent}/ban`), says: 'was voided at ISO, when agent node-1 was banned' },
  ])('refuses a token $what with 409 precondition_failed saying so, recording nothing', async ({ spend, says }) => {
    // Near the real time: the attestation goes over TLS, whose client checks the CA's certificate against it.
    const start = Math.floor(Date.now() / 1000) * 1000;
    const clock = new FakeClock(start);
    const ca = await startTestCa({}, { clock });
    const t = await create(ca, 'node-1');
    clock.advance(60);
    await spend(ca, t);
    clock.advance(60);
    const before = (await events(ca, 'token.revoked')).length;
    const res = await revoke(ca, t.id);
    expect(res).toEqual({
      status: 409,
      body: { error: { code: 'precondition_failed', message: `join token ${t.id} of agent node-1 ${says.replace('ISO', new Date(start + 60_000).toISOString())}` } },
    });
    expect((await events(ca, 'token.revoked')).length).toBe(before);
  });

  it('refuses an expired token with 409 saying when it expired', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 27, 12, 0, 0));
    const ca = await startTestCa({}, { clock });
    const t = await create(ca, 'node-1', '5m');
    clock.advance(300);
    const res = await revoke(ca, t.id);
    expect(res).toEqual({
      status: 409,
      body: { error: { code: 'precondition_failed', message: `join token ${t.id} of agent node-1 expired at 2026-11-27T12:05:00.000Z; it admits no one` } },
    });
  });

  it.each([
    ['an id no token has', '0123456789abcdef', 404, 'not_found'],
    ['an id in capitals', '0123456789ABCDEF', 400, 'invalid_request'],
    ['the token itself', `mcjt_${'A'.repeat(43)}`, 400, 'invalid_request'],
    ['a short id', '0123', 400, 'invalid_request'],
  ])('answers %s with %i %s', async (_what, id, status, code) => {
    const ca = await startTestCa();
    await create(ca, 'node-1');
    const res = await revoke(ca, id);
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status, code });
  });

  it('against an attestation with the same token: exactly one of them wins, every time', async () => {
    const ca = await startTestCa();
    for (let round = 0; round < 6; round++) {
      const t = await create(ca, `race-${round}`);
      const [revoked, attested] = await Promise.all([revoke(ca, t.id), attest(ca, t.token)]);
      expect([revoked.status, attested.status].sort()).toEqual(revoked.status === 200 ? [200, 401] : [200, 409]);
      const agents = (await asOperator(ca, 'GET', '/v1/agents')).agents as Array<{ name: string }>;
      expect(agents.some((a) => a.name === `race-${round}`)).toBe(attested.status === 200);
    }
  });
});
