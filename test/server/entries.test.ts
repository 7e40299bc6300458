/** Registration entries: what operators grant, and the workload SVIDs agents obtain through them. */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAgentName } from '../../src/identity/agent-name.js';
import { SpiffeId } from '../../src/identity/spiffe-id.js';
import { decodeSinglePem, encodePem } from '../../src/x509/pem.js';
import { adminCredential, asOperator, attestAgent, callCa, newKeyAndCsr } from '../support/callers.js';
import { clockNearNow } from '../support/lifecycle-ca.js';
import { startTestCa } from '../support/test-ca.js';
import { waitFor } from '../support/wait.js';

describe('registration entries', () => {
  it.each([
    ['a reserved meshca identity', { spiffeId: 'spiffe://example.org/meshca/agent/x' }, 400, 'reserved_spiffe_id'],
    ['an admin identity', { spiffeId: 'spiffe://example.org/meshca/admin/operator/eve' }, 400, 'reserved_spiffe_id'],
    ['a reserved identity in capitals', { spiffeId: 'spiffe://example.org/MESHCA/agent/x' }, 400, 'reserved_spiffe_id'],
    ['an admin identity in mixed case', { spiffeId: 'spiffe://example.org/Meshca/admin/operator/eve' }, 400, 'reserved_spiffe_id'],
    ['another trust domain', { spiffeId: 'spiffe://other.org/ns/web' }, 400, 'foreign_trust_domain'],
    ['an ID without a path', { spiffeId: 'spiffe://example.org' }, 400, 'invalid_spiffe_id'],
    ['an invalid ID', { spiffeId: 'spiffe://example.org/a//b' }, 400, 'invalid_spiffe_id'],
    ['a ttl above the maximum', { ttl: '5h' }, 400, 'ttl_exceeds_max'],
    ['a bad ttl', { ttl: 'soon' }, 400, 'invalid_ttl'],
    ['a bad DNS name', { dns: ['bad_name'] }, 400, 'invalid_dns_name'],
    ['a bad agent name', { agent: 'a/b' }, 400, 'invalid_request'],
    ['an unknown field', { colour: 'red' }, 400, 'invalid_request'],
  ])('refuses %s', async (_what, change, status, code) => {
    const ca = await startTestCa();
    const res = await ca.localApp.inject({
      method: 'POST',
      url: '/v1/entries',
      payload: { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web', ...change },
    });
    expect({ status: res.statusCode, code: res.json().error.code }).toEqual({ status, code });
  });

  it('refuses a second entry for the same agent and identity', async () => {
    const ca = await startTestCa();
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const again = await ca.localApp.inject({
      method: 'POST',
      url: '/v1/entries',
      payload: { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' },
    });
    expect({ status: again.statusCode, code: again.json().error.code }).toEqual({ status: 409, code: 'already_exists' });
  });

  describe('a dry run (?dryRun=true) makes every check of the write and stores nothing', () => {
    const web = { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' };
    /** What the datastore holds, and the audit log's length, to show a dry run changed neither. */
    async function held(ca: Awaited<ReturnType<typeof startTestCa>>) {
      const events = (await ca.localApp.inject({ method: 'GET', url: '/v1/audit/events' })).body.trim().split('\n').length;
      return { entries: (await asOperator(ca, 'GET', '/v1/entries')).entries, events };
    }

    it('answers a create it would make with 200 and the entry, and keeps nothing', async () => {
      const ca = await startTestCa();
      const before = await held(ca);
      const res = await ca.localApp.inject({ method: 'POST', url: '/v1/entries?dryRun=true', payload: { ...web, ttl: '1h', dns: ['web.svc'] } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ ...web, ttl: 3600, dns: ['web.svc'], revision: 1 });
      expect(await held(ca)).toEqual(before);
    });

    it('answers an update it would make with 200 and the entry as it would be, and keeps the entry as it was', async () => {
      const ca = await startTestCa();
      const created = await asOperator(ca, 'POST', '/v1/entries', web);
      const before = await held(ca);
      const res = await ca.localApp.inject({ method: 'PATCH', url: `/v1/entries/${created.id}?dryRun=true`, payload: { dns: ['web.svc'] } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ id: created.id, dns: ['web.svc'], revision: 2 });
      expect(await held(ca)).toEqual(before);
      expect(await asOperator(ca, 'GET', `/v1/entries/${created.id}`)).toMatchObject({ dns: [], revision: 1 });
    });

    it.each([
      ['another trust domain', 'POST', { ...web, spiffeId: 'spiffe://other.org/ns/web' }, 400, 'foreign_trust_domain'],
      ['a ttl above the maximum', 'POST', { ...web, spiffeId: 'spiffe://example.org/ns/long', ttl: '5h' }, 400, 'ttl_exceeds_max'],
      ['an entry the agent holds already', 'POST', web, 409, 'already_exists'],
      ['an update above the maximum', 'PATCH', { ttl: '5h' }, 400, 'ttl_exceeds_max'],
    ] as const)('refuses %s as the write would', async (_what, method, payload, status, code) => {
      const ca = await startTestCa();
      const created = await asOperator(ca, 'POST', '/v1/entries', web);
      const before = await held(ca);
      const url = method === 'POST' ? '/v1/entries?dryRun=true' : `/v1/entries/${created.id}?dryRun=true`;
      const res = await ca.localApp.inject({ method, url, payload });
      expect({ status: res.statusCode, code: res.json().error.code }).toEqual({ status, code });
      expect(await held(ca)).toEqual(before);
    });

    it('asks for the operator role, as the write does, and takes only true or false', async () => {
      const ca = await startTestCa();
      const auditor = await adminCredential(ca, 'auditor', 'ann');
      const asAuditor = await callCa(ca, auditor, 'POST', '/v1/entries?dryRun=true', web);
      expect({ status: asAuditor.status, code: asAuditor.body.error.code }).toEqual({ status: 403, code: 'forbidden' });
      const odd = await ca.localApp.inject({ method: 'POST', url: '/v1/entries?dryRun=yes', payload: web });
      expect({ status: odd.statusCode, code: odd.json().error.code }).toEqual({ status: 400, code: 'invalid_request' });
      expect((await held(ca)).entries).toEqual([]);
    });
  });

  it('lets the agent learn entries added, changed and removed', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const sync = async () => (await callCa(ca, agent, 'GET', '/v1/agent/entries')).body.entries as Array<{ id: string; revision: number; dns: string[] }>;
    expect(await sync()).toEqual([]);
    const web = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const db = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/db' });
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-2', spiffeId: 'spiffe://example.org/ns/other' });
    expect((await sync()).map((e) => e.id).sort()).toEqual([web.id, db.id].sort());
    await asOperator(ca, 'PATCH', `/v1/entries/${web.id}`, { dns: ['web.example'] });
    await asOperator(ca, 'DELETE', `/v1/entries/${db.id}`);
    expect(await sync()).toMatchObject([{ id: web.id, revision: 2, dns: ['web.example'] }]);
  });
});

describe('listings filtered by agent', () => {
  it.each(['/v1/entries', '/v1/tokens', '/v1/certificates'].flatMap((path) => ['..', '.hidden'].map((name) => [path, name])))(
    'fail/GET %s?agent=%s, a name no agent can have -> 400 invalid_name, not an empty listing',
    async (path, name) => {
      const ca = await startTestCa();
      const res = await ca.localApp.inject({ method: 'GET', url: `${path}?agent=${name}` });
      expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({ status: 400, code: 'invalid_name' });
    },
  );

  it('pass/GET /v1/entries?agent=NAME lists that agent\'s entries only', async () => {
    const ca = await startTestCa();
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-2', spiffeId: 'spiffe://example.org/ns/db' });
    const listed = (await asOperator(ca, 'GET', '/v1/entries?agent=node-1')).entries as Array<{ agent: string; spiffeId: string }>;
    expect(listed.map((e) => [e.agent, e.spiffeId])).toEqual([['node-1', 'spiffe://example.org/ns/web']]);
  });
});

describe('workload SVIDs', () => {
  it('take identity, DNS names and lifetime from the entry, never from the CSR', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const entry = await asOperator(ca, 'POST', '/v1/entries', {
      agent: 'node-1',
      spiffeId: 'spiffe://example.org/ns/web',
      ttl: '10m',
      dns: ['web.example'],
    });
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect(res.status).toBe(200);
    const cert = new X509Certificate(res.body.svids[0].svid);
    expect(cert.subjectAltName).toBe('DNS:web.example, URI:spiffe://example.org/ns/web');
    expect((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000).toBe(600 + 30);
    expect(res.body.svids[0]).toMatchObject({ entryId: entry.id, spiffeId: 'spiffe://example.org/ns/web' });
    expect(res.body.bundle).toBe(ca.bundlePem);
  });

  it('issue a batch of ten in one request', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: `spiffe://example.org/w/${i}` })).id);
    }
    const requests = await Promise.all(ids.map(async (entryId) => ({ entryId, csr: (await newKeyAndCsr()).csr })));
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests });
    expect(res.status).toBe(200);
    expect(res.body.svids.map((s: { entryId: string }) => s.entryId)).toEqual(ids);
  });

  it('refuse a whole batch when one CSR fails its check, naming which, and record nothing', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const csrs = await Promise.all([1, 2, 3].map(async () => (await newKeyAndCsr()).csr));
    // The last byte of a P-256 CSR is the last byte of its signature: still DER, no longer a valid signature.
    const der = Buffer.from(decodeSinglePem(csrs[1]!, ['CERTIFICATE REQUEST']).der);
    der[der.length - 1]! ^= 0x01;
    csrs[1] = encodePem('CERTIFICATE REQUEST', der);
    const before = await ca.store.certificates.countLive(Math.floor(Date.now() / 1000));
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: csrs.map((csr) => ({ entryId: entry.id, csr })) });
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 400, code: 'csr_signature_invalid' });
    expect(res.body.error.message).toMatch(/^requests\[1\]: /);
    expect(await ca.store.certificates.countLive(Math.floor(Date.now() / 1000))).toBe(before);
  });

  it('name the first CSR of the batch that fails, whichever check finishes first', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const csrs = await Promise.all([1, 2].map(async () => (await newKeyAndCsr()).csr));
    // The first fails late (its signature, checked after parsing); the second at once (not a CSR at all).
    const der = Buffer.from(decodeSinglePem(csrs[0]!, ['CERTIFICATE REQUEST']).der);
    der[der.length - 1]! ^= 0x01;
    csrs[0] = encodePem('CERTIFICATE REQUEST', der);
    csrs[1] = 'not a CSR';
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: csrs.map((csr) => ({ entryId: entry.id, csr })) });
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 400, code: 'csr_signature_invalid' });
    expect(res.body.error.message).toMatch(/^requests\[0\]: /);
  });

  it('refuse a batch above the limit', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const { csr } = await newKeyAndCsr();
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: Array.from({ length: 65 }, () => ({ entryId: 'x', csr })) });
    expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 400, code: 'batch_too_large' });
  });

  it("refuse another agent's entry, and an entry once deleted", async () => {
    const ca = await startTestCa();
    const mine = await attestAgent(ca, 'node-1');
    const theirs = await attestAgent(ca, 'node-2');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const ask = async (cred: typeof mine) =>
      callCa(ca, cred, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect((await ask(mine)).status).toBe(200);
    const stolen = await ask(theirs);
    expect({ status: stolen.status, code: stolen.body.error.code }).toEqual({ status: 403, code: 'entry_not_granted' });
    await asOperator(ca, 'DELETE', `/v1/entries/${entry.id}`);
    const renewal = await ask(mine);
    expect({ status: renewal.status, code: renewal.body.error.code }).toEqual({ status: 403, code: 'entry_not_granted' });
  });

  it('fail/an entry id that names no entry is quoted, escaped, in the refusal and in the audit log, which the agent cannot write lines into', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    // What a compromised agent might send to make its refusal read, in a terminal or a log viewer, as something else.
    // A bidi override reverses what follows it as displayed; a line separator breaks the line in some viewers.
    const entryId = 'x is granted to agent node-1\n\u001b[2Kentry y\u202edi\u2028';
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId, csr: (await newKeyAndCsr()).csr }] });
    const quoted = String.raw`"x is granted to agent node-1\n\u001b[2Kentry y\u202edi\u2028"`;
    const message = `entry ${quoted} is not granted to agent node-1`;
    expect([res.status, res.body]).toEqual([403, { error: { code: 'entry_not_granted', message } }]);
    // Audited after the answer is sent.
    const refused = () => ca.store.db.prepare("SELECT data FROM audit_events WHERE type = 'issuance.refused'").all() as Array<{ data: string }>;
    await waitFor('the refusal audited', () => refused().length > 0, 5000, 20);
    expect(refused().map((r) => JSON.parse(r.data).message)).toEqual([message]);

    const lookup = await ca.localApp.inject({ method: 'GET', url: `/v1/entries/${encodeURIComponent(entryId)}` });
    expect([lookup.statusCode, lookup.json()]).toEqual([404, { error: { code: 'not_found', message: `entry ${quoted} not found` } }]);
  });

  it('are rate limited per agent with 429 and Retry-After, yet a full batch of 64 always fits the bucket', async () => {
    // A clock that stands still: however slow this machine, no token comes back between the two requests.
    const ca = await startTestCa({ 'agent-rate-limit': '1' }, { clock: clockNearNow() });
    const agent = await attestAgent(ca, 'node-1');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const requests = await Promise.all(Array.from({ length: 64 }, async () => ({ entryId: entry.id, csr: (await newKeyAndCsr()).csr })));
    const first = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests });
    const second = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: requests.slice(0, 1) });
    expect(first.status).toBe(200);
    expect({ status: second.status, code: second.body.error.code }).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('let a batch refused for its rate through when retried after exactly its Retry-After', async () => {
    const clock = clockNearNow();
    const ca = await startTestCa({ 'agent-rate-limit': '1' }, { clock });
    const agent = await attestAgent(ca, 'node-1');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const batch = async (n: number) => Promise.all(Array.from({ length: n }, async () => ({ entryId: entry.id, csr: (await newKeyAndCsr()).csr })));
    expect((await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: await batch(64) })).status).toBe(200);
    clock.advance(5);
    const ten = await batch(10);
    const refused = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: ten });
    expect({ status: refused.status, retryAfter: refused.headers['retry-after'] }).toEqual({ status: 429, retryAfter: '5' });
    clock.advance(5);
    expect((await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: ten })).status).toBe(200);
  });

  it.each([
    ['/v1/agent/renew', { csr: 42 }],
    ['/v1/agent/svids', { requests: [] }],
  ])('charge %s bodies the schema refuses to the agent, one CSR each, until it answers 429', async (path, body) => {
    const ca = await startTestCa({ 'agent-rate-limit': '1' }, { clock: clockNearNow() });
    const agent = await attestAgent(ca, 'node-1');
    const statuses = new Set<number>();
    // The bucket holds one full batch (64) at rate 1, and the standing clock returns none of it.
    for (let i = 0; i < 64; i++) statuses.add((await callCa(ca, agent, 'POST', path, body)).status);
    const next = await callCa(ca, agent, 'POST', path, body);
    expect([...statuses]).toEqual([400]);
    expect({ status: next.status, code: next.body.error.code }).toEqual({ status: 429, code: 'rate_limited' });
  });
});

describe('an entry for a reserved identity made before it was refused (an earlier build matched /meshca/ in lower case only)', () => {
  it('fail/is not issued: 400 reserved_spiffe_id to its agent, nothing recorded', async () => {
    const ca = await startTestCa();
    const now = Math.floor(Date.now() / 1000);
    // Written as the earlier build's entry service did, past today's check.
    await ca.store.registrations.createEntry(
      { id: 'old-entry', agent: parseAgentName('node-1'), spiffeId: SpiffeId.parse('spiffe://example.org/Meshca/admin/operator/x'), ttl: null, dnsNames: [], createdAt: now, updatedAt: now, revision: 1 },
      { type: 'entry.created', actor: 'operator:test', data: {} },
    );
    const agent = await attestAgent(ca, 'node-1');
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: 'old-entry', csr: (await newKeyAndCsr()).csr }] });
    expect([res.status, res.body.error?.code]).toEqual([400, 'reserved_spiffe_id']);
    expect(ca.store.db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE kind = 'workload'").get()).toEqual({ n: 0 });
  });
});

describe('issuance records', () => {
  it('name the caller that asked for each certificate', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    await asOperator(ca, 'POST', '/v1/svids/mint', { spiffeId: 'spiffe://example.org/ns/cli', csr: (await newKeyAndCsr()).csr });
    const rows = ca.store.db
      .prepare("SELECT kind, spiffe_id, requested_by, agent FROM certificates WHERE kind != 'server' ORDER BY id")
      .all();
    expect(rows).toEqual([
      { kind: 'agent', spiffe_id: 'spiffe://example.org/meshca/agent/node-1', requested_by: 'agent:node-1', agent: 'node-1' },
      { kind: 'workload', spiffe_id: 'spiffe://example.org/ns/web', requested_by: 'agent:node-1', agent: 'node-1' },
      { kind: 'mint', spiffe_id: 'spiffe://example.org/ns/cli', requested_by: 'operator:local', agent: null },
    ]);
  });
});
