/** Join tokens, agent attestation, renewal and standing. */
import { Agent, request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { asOperator, attestAgent, callCa, joinToken, newKeyAndCsr, type Credential } from '../support/callers.js';
import { FakeClock } from '../support/fake-clock.js';
import { clockNearNow } from '../support/lifecycle-ca.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

function agentRows(ca: TestCa) {
  return ca.store.db.prepare('SELECT name, status, svid_serial FROM agents ORDER BY name').all() as Array<{
    name: string;
    status: string;
    svid_serial: string;
  }>;
}

describe('join tokens', () => {
  it('admit exactly one attestation when used twice in a row', async () => {
    const ca = await startTestCa();
    const token = await joinToken(ca, 'web-1');
    const first = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    const second = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    expect([first.status, second.status]).toEqual([200, 401]);
    expect(second.body.error.code).toBe('invalid_token');
    expect(agentRows(ca)).toHaveLength(1);
  });

  it('admit exactly one attestation when used twice at once', async () => {
    const ca = await startTestCa();
    for (let round = 0; round < 5; round++) {
      const token = await joinToken(ca, `race-${round}`);
      const bodies = await Promise.all([1, 2, 3].map(async () => ({ token, csr: (await newKeyAndCsr()).csr })));
      const answers = await Promise.all(bodies.map((b) => callCa(ca, undefined, 'POST', '/v1/agent/attest', b)));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401]);
      const issued = ca.store.db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE kind = 'agent' AND agent = ?").get(`race-${round}`) as { n: number };
      expect(issued.n).toBe(1);
    }
    expect(agentRows(ca).map((a) => a.name)).toEqual(['race-0', 'race-1', 'race-2', 'race-3', 'race-4']);
  });

  it('are refused once expired', async () => {
    const clock = new FakeClock(Date.now());
    const ca = await startTestCa({}, { clock });
    const token = await joinToken(ca, 'late', '10m');
    clock.advance(10 * 60);
    const res = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 401, code: 'invalid_token' });
  });

  it('are stored only as hashes', async () => {
    const ca = await startTestCa();
    const token = await joinToken(ca, 'hashed');
    const dump = JSON.stringify(ca.store.db.prepare('SELECT * FROM join_tokens').all());
    expect(dump).not.toContain(token);
    expect(JSON.stringify(ca.store.db.prepare('SELECT * FROM audit_events').all())).not.toContain(token);
  });

  it.each([
    ['garbage', 'nonsense', 401, 'invalid_token'],
    ['well-formed but unknown', `mcjt_${'A'.repeat(43)}`, 401, 'invalid_token'],
  ])('refuses a %s token', async (_name, token, status, code) => {
    const ca = await startTestCa();
    const res = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status, code });
  });
});

describe('agent attestation and renewal', () => {
  it('gives the agent spiffe://<td>/meshca/agent/NAME and the bundle', async () => {
    const ca = await startTestCa();
    const token = await joinToken(ca, 'node-7');
    const res = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    expect(res.status).toBe(200);
    expect(res.body.svid.spiffeId).toBe('spiffe://example.org/meshca/agent/node-7');
    expect(new X509Certificate(res.body.svid.svid).subjectAltName).toBe('URI:spiffe://example.org/meshca/agent/node-7');
    expect(res.body.bundle).toBe(ca.bundlePem);
  });

  it('renews the agent SVID over mutual TLS and records the new serial', async () => {
    const ca = await startTestCa();
    const cred = await attestAgent(ca, 'renewer');
    const res = await callCa(ca, cred, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect(res.status).toBe(200);
    expect(res.body.svid.spiffeId).toBe('spiffe://example.org/meshca/agent/renewer');
    expect(agentRows(ca)[0]!.svid_serial).toBe(res.body.svid.serial);
  });

  it.each<{ settings: Record<string, string>; agentTtl: number; why: string }>([
    { settings: {}, agentTtl: 3600, why: 'the default: --svid-ttl, like any SVID' },
    { settings: { 'agent-svid-ttl': '4h' }, agentTtl: 4 * 3600, why: '--agent-svid-ttl' },
  ])('gives agent SVIDs, at attestation and renewal, the lifetime of $why, and workload SVIDs --svid-ttl', async ({ settings, agentTtl }) => {
    const ca = await startTestCa(settings);
    const lifetime = (pem: string) => {
      const cert = new X509Certificate(pem);
      return (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;
    };
    const backdate = Math.min(30, Math.floor(agentTtl / 10));
    const cred = await attestAgent(ca, 'long-lived');
    expect(lifetime(cred.chainPem)).toBe(agentTtl + backdate);
    const renewed = await callCa(ca, cred, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect(lifetime(renewed.body.svid.svid)).toBe(agentTtl + backdate);
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'long-lived', spiffeId: 'spiffe://example.org/ns/web' });
    const workload = await callCa(ca, cred, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect(lifetime(workload.body.svids[0].svid)).toBe(3600 + 30);
  });

  it('refuses the next request of an evicted agent on an already open connection', async () => {
    const ca = await startTestCa();
    const cred = await attestAgent(ca, 'evictee');
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.bundlePem, key: cred.keyPem, cert: cred.chainPem });
    try {
      const first = await get(ca, keepAlive, '/v1/agent/entries');
      expect(first).toMatchObject({ status: 200, reused: false });
      await asOperator(ca, 'POST', '/v1/agents/evictee/evict');
      const second = await get(ca, keepAlive, '/v1/agent/entries');
      expect(second).toMatchObject({ status: 403, reused: true, code: 'agent_evicted' });
    } finally {
      keepAlive.destroy();
    }
  });

  it('refuses the next request of an agent whose SVID expired while its connection stayed open', async () => {
    // The handshake checks validity by the real clock, the CA by its own: near real time, the SVID is valid at the
    // handshake, and only the CA's clock, moved past its notAfter, can make the second request refused.
    const clock = clockNearNow();
    const ca = await startTestCa({}, { clock });
    const cred = await attestAgent(ca, 'outlived');
    const notAfterMs = Date.parse(new X509Certificate(cred.chainPem).validTo);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.bundlePem, key: cred.keyPem, cert: cred.chainPem });
    try {
      const first = await get(ca, keepAlive, '/v1/agent/entries');
      expect(first).toMatchObject({ status: 200, reused: false });
      clock.set(notAfterMs + 1000);
      const second = await get(ca, keepAlive, '/v1/agent/entries');
      expect(second).toMatchObject({ status: 401, reused: true, code: 'certificate_expired' });
      expect(second.localPort).toBe(first.localPort);
    } finally {
      keepAlive.destroy();
    }
  });

  it('does not count a refused request as the agent being seen (agent list, the root runbook\'s check)', async () => {
    const clock = new FakeClock(Date.now());
    const ca = await startTestCa({}, { clock });
    const cred = await attestAgent(ca, 'silenced');
    expect((await callCa(ca, cred, 'GET', '/v1/agent/entries')).status).toBe(200);
    await ca.core.standing.flushSeen();
    const lastSeen = () => (ca.store.db.prepare('SELECT last_seen FROM agents WHERE name = ?').get('silenced') as { last_seen: number }).last_seen;
    const seenWhileServed = lastSeen();
    await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: new X509Certificate(cred.chainPem).serialNumber, reason: 'keyCompromise' });
    clock.advance(120);
    const refused = await callCa(ca, cred, 'GET', '/v1/agent/entries');
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({ status: 401, code: 'certificate_revoked' });
    await ca.core.standing.flushSeen();
    expect(lastSeen()).toBe(seenWhileServed);
  });

  it('supersedes, when a new token is used under an active name, the agent SVID held under it: the old holder is refused as superseded (not as evicted or revoked), the log verifies', async () => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const before = await attestAgent(ca, 'node-1');
    const workload = await callCa(ca, before, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect(workload.status).toBe(200);
    const after = await attestAgent(ca, 'node-1');

    const refused = await callCa(ca, before, 'GET', '/v1/agent/entries');
    expect([refused.status, refused.body.error]).toEqual([
      401,
      { code: 'certificate_superseded', message: 'the client certificate was superseded: a newer one was issued under the same name, which revoked it' },
    ]);
    expect((await callCa(ca, after, 'GET', '/v1/agent/entries')).status).toBe(200);
    // What the old holder obtained for its workloads is kept: a node given a new token still serves until it renews.
    expect(ca.store.db.prepare("SELECT revoked_at FROM certificates WHERE kind = 'workload'").all()).toEqual([{ revoked_at: null }]);
    expect((await asOperator(ca, 'POST', '/v1/audit/verify', {})).ok).toBe(true);
  });

  it('lets an evicted agent back only with a new token, and its old SVID stays refused', async () => {
    const ca = await startTestCa();
    const old = await attestAgent(ca, 'returning');
    await asOperator(ca, 'POST', '/v1/agents/returning/evict');
    const fresh = await attestAgent(ca, 'returning');
    expect((await callCa(ca, fresh, 'GET', '/v1/agent/entries')).status).toBe(200);
    const stale = await callCa(ca, old, 'GET', '/v1/agent/entries');
    expect({ status: stale.status, code: stale.body.error.code }).toEqual({ status: 401, code: 'certificate_revoked' });
  });

  it.each<[string, (ca: TestCa) => Promise<unknown>]>([
    ['an attested agent', (ca) => attestAgent(ca, 'evicted-early')],
    ['a name that never attested (a node provisioned, then withdrawn)', async () => undefined],
    ['an agent already evicted (its tokens made since are voided too)', async (ca) => {
      await attestAgent(ca, 'evicted-early');
      await asOperator(ca, 'POST', '/v1/agents/evicted-early/evict');
    }],
  ])('evicts %s: a token made before the eviction no longer admits the agent; one made after does', async (_name, before) => {
    const ca = await startTestCa();
    await before(ca);
    const earlier = await joinToken(ca, 'evicted-early');
    await asOperator(ca, 'POST', '/v1/agents/evicted-early/evict');
    const attempt = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: earlier, csr: (await newKeyAndCsr()).csr });
    expect(attempt.status).toBe(401);
    expect(agentRows(ca)).toMatchObject([{ name: 'evicted-early', status: 'evicted' }]);
    await attestAgent(ca, 'evicted-early');
    expect(agentRows(ca)).toMatchObject([{ name: 'evicted-early', status: 'active' }]);
  });

  it.each(['evict', 'ban'])('%s of a name that had not attested, while its attestation commits: the SVID the attestation got is revoked', async (action) => {
    const ca = await startTestCa();
    const registrations = ca.store.registrations;
    const lookUp = registrations.getAgent.bind(registrations);
    let raced: Credential | undefined;
    let armed = true;
    // The attestation commits between the eviction's look ("never attested") and its change.
    registrations.getAgent = async (name) => {
      const found = await lookUp(name);
      if (armed && name === 'racer') {
        armed = false;
        raced = await attestAgent(ca, 'racer');
      }
      return found;
    };
    await asOperator(ca, 'POST', `/v1/agents/racer/${action}`);
    registrations.getAgent = lookUp;
    expect(raced).toBeDefined();
    expect((await callCa(ca, raced, 'GET', '/v1/agent/entries')).status).toBe(403);
    // Revoked too, so that it is on the CRL for peers, who do not ask the CA about the agent's standing.
    expect(ca.store.db.prepare("SELECT revoked_at FROM certificates WHERE kind = 'agent'").all()).toEqual([{ revoked_at: expect.any(Number) }]);
  });

  it('bans: no token, no attestation with an earlier token, until unbanned', async () => {
    const ca = await startTestCa();
    const earlier = await joinToken(ca, 'rogue');
    await asOperator(ca, 'POST', '/v1/agents/rogue/ban');
    const attempt = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: earlier, csr: (await newKeyAndCsr()).csr });
    expect(attempt.status).toBe(401);
    const tokenRes = await ca.localApp.inject({ method: 'POST', url: '/v1/tokens', payload: { agent: 'rogue' } });
    expect({ status: tokenRes.statusCode, code: tokenRes.json().error.code }).toEqual({ status: 403, code: 'agent_banned' });
    await asOperator(ca, 'POST', '/v1/agents/rogue/unban');
    await attestAgent(ca, 'rogue');
    expect(agentRows(ca)).toMatchObject([{ name: 'rogue', status: 'active' }]);
  });

  it('limits attestation attempts per address with 429 and Retry-After', async () => {
    const ca = await startTestCa({ 'attest-rate-limit': '3' });
    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 5; i++) {
      const res = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: 'x', csr: (await newKeyAndCsr()).csr });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers['retry-after'];
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('counts attempts whose bodies are refused before any check of the token (a flood of bad bodies is limited too)', async () => {
    const ca = await startTestCa({ 'attest-rate-limit': '3' });
    const statuses: number[] = [];
    for (const body of [{ token: 1 }, { token: 'x' }, { csr: 'x', extra: true }]) statuses.push((await callCa(ca, undefined, 'POST', '/v1/agent/attest', body)).status);
    statuses.push((await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: 'x', csr: (await newKeyAndCsr()).csr })).status);
    expect(statuses).toEqual([400, 400, 400, 429]);
  });
});

/** One request through `agent`; `reused` and `localPort` tell which connection carried it. */
function get(ca: TestCa, agent: Agent, path: string): Promise<{ status: number; reused: boolean; localPort?: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, ca.url), { agent }, (res) => {
      const localPort = res.socket.localPort;
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, localPort, code: JSON.parse(text).error?.code }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

