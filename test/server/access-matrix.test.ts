/**
 * Every route against every kind of caller: the status and error code of each
 * cell. A new route must be added here, or the completeness check fails.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { routeCatalog } from '../../src/server/access-control.js';
import {
  adminCredential, asOperator, attestAgent, callCa, expiredCredential, foreignCredential, mintCredential, newKeyAndCsr, type Credential,
} from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const CALLERS = ['anonymous', 'foreign', 'expired', 'revoked', 'workload', 'agent', 'otherAgent', 'evictedAgent', 'auditor', 'operator'] as const;
type CallerKind = (typeof CALLERS)[number];

/** One row: what each caller gets. "ok" is the route's success status. */
type Row = Record<CallerKind, string>;

const PUBLIC = Object.fromEntries(CALLERS.map((c) => [c, 'ok'])) as Row;
/**
 * Refused on every route but the public ones: a revoked operator credential, and a workload SVID, which
 * holds no meshca role, whatever route it tries.
 */
const REFUSED = {
  anonymous: '401 unauthenticated', foreign: '401 certificate_untrusted', expired: '401 certificate_expired', revoked: '401 certificate_revoked', workload: '403 forbidden',
} as const;
const AGENT_ONLY: Row = {
  ...REFUSED, agent: 'ok', otherAgent: 'ok', evictedAgent: '403 agent_evicted', auditor: '403 forbidden', operator: '403 forbidden',
};
const READERS: Row = {
  ...REFUSED, agent: '403 forbidden', otherAgent: '403 forbidden', evictedAgent: '403 agent_evicted', auditor: 'ok', operator: 'ok',
};
const OPERATOR_ONLY: Row = { ...READERS, auditor: '403 forbidden' };

interface Fixture {
  ca: TestCa;
  creds: Record<Exclude<CallerKind, 'anonymous'>, Credential>;
  /** An entry granted to `agent` (not to `otherAgent`). */
  entryId: string;
}

interface Route {
  method: string;
  path: (f: Fixture) => string | Promise<string>;
  body?: (f: Fixture) => Promise<unknown>;
  ok: number;
  expect: Row;
}

let counter = 0;
const unique = () => `n${++counter}`;
const csrBody = async () => ({ csr: (await newKeyAndCsr()).csr });
const freshEntry = async (f: Fixture) =>
  (await asOperator(f.ca, 'POST', '/v1/entries', { agent: 'agent-a', spiffeId: `spiffe://example.org/tmp/${unique()}` })).id as string;

const ROUTES: Record<string, Route> = {
  'GET /healthz': { method: 'GET', path: () => '/healthz', ok: 200, expect: PUBLIC },
  'GET /readyz': { method: 'GET', path: () => '/readyz', ok: 200, expect: PUBLIC },
  'GET /v1/bundle': { method: 'GET', path: () => '/v1/bundle', ok: 200, expect: PUBLIC },
  'GET /v1/bundle.pem': { method: 'GET', path: () => '/v1/bundle.pem', ok: 200, expect: PUBLIC },
  'POST /v1/agent/attest': {
    method: 'POST',
    path: () => '/v1/agent/attest',
    body: async () => ({ token: 'mcjt_not-a-real-token', ...(await csrBody()) }),
    ok: 200,
    // Public: the join token is the credential, and this one is wrong for everybody.
    expect: Object.fromEntries(CALLERS.map((c) => [c, '401 invalid_token'])) as Row,
  },
  'POST /v1/agent/renew': { method: 'POST', path: () => '/v1/agent/renew', body: csrBody, ok: 200, expect: AGENT_ONLY },
  'GET /v1/agent/entries': { method: 'GET', path: () => '/v1/agent/entries', ok: 200, expect: AGENT_ONLY },
  'POST /v1/agent/svids': {
    method: 'POST',
    path: () => '/v1/agent/svids',
    body: async (f) => ({ requests: [{ entryId: f.entryId, csr: (await newKeyAndCsr()).csr }] }),
    ok: 200,
    expect: { ...AGENT_ONLY, otherAgent: '403 entry_not_granted' },
  },
  'POST /v1/svids/mint': {
    method: 'POST',
    path: () => '/v1/svids/mint',
    body: async () => ({ spiffeId: 'spiffe://example.org/ns/minted', ...(await csrBody()) }),
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  'POST /v1/tokens': { method: 'POST', path: () => '/v1/tokens', body: async () => ({ agent: unique() }), ok: 201, expect: OPERATOR_ONLY },
  'GET /v1/tokens': { method: 'GET', path: () => '/v1/tokens', ok: 200, expect: READERS },
  'POST /v1/tokens/:id/revoke': {
    method: 'POST',
    path: async (f) => `/v1/tokens/${(await asOperator(f.ca, 'POST', '/v1/tokens', { agent: unique() })).id as string}/revoke`,
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  'GET /v1/entries': { method: 'GET', path: () => '/v1/entries', ok: 200, expect: READERS },
  'POST /v1/entries': {
    method: 'POST',
    path: () => '/v1/entries',
    body: async () => ({ agent: 'agent-a', spiffeId: `spiffe://example.org/new/${unique()}` }),
    ok: 201,
    expect: OPERATOR_ONLY,
  },
  'GET /v1/entries/:id': { method: 'GET', path: (f) => `/v1/entries/${f.entryId}`, ok: 200, expect: READERS },
  'PATCH /v1/entries/:id': {
    method: 'PATCH',
    path: async (f) => `/v1/entries/${await freshEntry(f)}`,
    body: async () => ({ dns: ['changed.example'] }),
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  'DELETE /v1/entries/:id': { method: 'DELETE', path: async (f) => `/v1/entries/${await freshEntry(f)}`, ok: 204, expect: OPERATOR_ONLY },
  'GET /v1/agents': { method: 'GET', path: () => '/v1/agents', ok: 200, expect: READERS },
  'POST /v1/agents/:name/evict': {
    method: 'POST',
    path: async (f) => {
      const name = unique();
      await attestAgent(f.ca, name);
      return `/v1/agents/${name}/evict`;
    },
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  'POST /v1/agents/:name/ban': { method: 'POST', path: () => `/v1/agents/${unique()}/ban`, ok: 200, expect: OPERATOR_ONLY },
  'POST /v1/agents/:name/unban': {
    method: 'POST',
    path: async (f) => {
      const name = unique();
      await asOperator(f.ca, 'POST', `/v1/agents/${name}/ban`);
      return `/v1/agents/${name}/unban`;
    },
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  'GET /v1/certificates': { method: 'GET', path: () => '/v1/certificates?limit=5', ok: 200, expect: READERS },
  'GET /v1/identities': { method: 'GET', path: () => '/v1/identities', ok: 200, expect: READERS },
  'GET /v1/audit/events': { method: 'GET', path: () => '/v1/audit/events', ok: 200, expect: READERS },
  'POST /v1/audit/verify': { method: 'POST', path: () => '/v1/audit/verify', body: async () => ({}), ok: 200, expect: READERS },
  'POST /v1/audit/checkpoints': { method: 'POST', path: () => '/v1/audit/checkpoints', ok: 201, expect: OPERATOR_ONLY },
  'GET /v1/authorities': { method: 'GET', path: () => '/v1/authorities', ok: 200, expect: READERS },
  'GET /v1/doctor': { method: 'GET', path: () => '/v1/doctor', ok: 200, expect: READERS },
  // Lifecycle routes must not change whom the callers' credentials chain to, so the operator's
  // cells stop at a precondition where a success would rotate trust under the other cells.
  'POST /v1/authorities/root/prepare': {
    method: 'POST',
    path: () => '/v1/authorities/root/prepare',
    body: async () => ({}),
    ok: 201,
    expect: { ...OPERATOR_ONLY, operator: 'ok' },
  },
  'POST /v1/authorities/root/activate': {
    method: 'POST',
    path: () => '/v1/authorities/root/activate',
    body: async () => ({ force: false }),
    ok: 200,
    expect: { ...OPERATOR_ONLY, operator: '409 precondition_failed' },
  },
  // Runs after prepare, whose operator cell left a root prepared: the operator withdraws it.
  'POST /v1/authorities/root/withdraw': {
    method: 'POST',
    path: () => '/v1/authorities/root/withdraw',
    ok: 200,
    expect: { ...OPERATOR_ONLY, operator: 'ok' },
  },
  'POST /v1/authorities/root/retire': {
    method: 'POST',
    path: () => '/v1/authorities/root/retire',
    body: async () => ({}),
    ok: 200,
    expect: { ...OPERATOR_ONLY, operator: '409 precondition_failed' },
  },
  // Names files on the CA host, so only the local operator may (test/lifecycle/intermediate-import.test.ts).
  'POST /v1/authorities/intermediate/import': {
    method: 'POST',
    path: () => '/v1/authorities/intermediate/import',
    body: async () => ({ certFile: '/nonexistent/intermediate.pem', keyFile: '/nonexistent/intermediate.key' }),
    ok: 201,
    expect: { ...OPERATOR_ONLY, operator: '403 forbidden' },
  },
  'POST /v1/authorities/:id/taint': {
    method: 'POST',
    path: () => `/v1/authorities/${'0'.repeat(40)}/taint`,
    ok: 200,
    expect: { ...OPERATOR_ONLY, operator: '404 not_found' },
  },
  'POST /v1/certificates/revoke': {
    method: 'POST',
    path: () => '/v1/certificates/revoke',
    body: async () => ({ spiffeId: 'spiffe://example.org/ns/nobody', reason: 'superseded' }),
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  'GET /v1/crl': { method: 'GET', path: () => '/v1/crl', ok: 200, expect: { ...READERS, agent: 'ok', otherAgent: 'ok' } },
  'GET /v1/crl.pem': { method: 'GET', path: () => '/v1/crl.pem', ok: 200, expect: { ...READERS, agent: 'ok', otherAgent: 'ok' } },
  'GET /metrics': { method: 'GET', path: () => '/metrics', ok: 200, expect: READERS },
  'POST /v1/admin/credentials': {
    method: 'POST',
    path: () => '/v1/admin/credentials',
    body: async () => ({ role: 'auditor', name: unique(), ...(await csrBody()) }),
    ok: 200,
    expect: OPERATOR_ONLY,
  },
  // The holder of an admin credential renews that one; the CA host's operator, on the local socket, holds none (admin-renewal.test.ts).
  'POST /v1/admin/credentials/renew': { method: 'POST', path: () => '/v1/admin/credentials/renew', body: csrBody, ok: 200, expect: READERS },
};

/** An operator credential, revoked: refused on every route that needs a caller, also as an operator. */
async function revokedOperator(ca: TestCa): Promise<Credential> {
  const credential = await adminCredential(ca, 'operator', 'revoked');
  await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: new X509Certificate(credential.chainPem).serialNumber, reason: 'keyCompromise' });
  return credential;
}

describe('access control: every route against every caller', () => {
  const fixture = {} as Fixture;

  beforeAll(async () => {
    fixture.ca = await startTestCa();
    const ca = fixture.ca;
    const agent = await attestAgent(ca, 'agent-a');
    const otherAgent = await attestAgent(ca, 'agent-b');
    const evictedAgent = await attestAgent(ca, 'agent-evicted');
    await asOperator(ca, 'POST', '/v1/agents/agent-evicted/evict');
    fixture.creds = {
      foreign: await foreignCredential(),
      expired: await expiredCredential(ca, 'spiffe://example.org/meshca/admin/operator/old'),
      revoked: await revokedOperator(ca),
      workload: await mintCredential(ca, 'spiffe://example.org/ns/workload'),
      agent,
      otherAgent,
      evictedAgent,
      auditor: await adminCredential(ca, 'auditor', 'audrey'),
      operator: await adminCredential(ca, 'operator', 'olga'),
    };
    fixture.entryId = (await asOperator(ca, 'POST', '/v1/entries', { agent: 'agent-a', spiffeId: 'spiffe://example.org/ns/web' })).id;
  });

  it('covers every route the server registers, and nothing else', () => {
    expect([...routeCatalog(fixture.ca.tlsApp)].sort()).toEqual(Object.keys(ROUTES).sort());
  });

  for (const [name, route] of Object.entries(ROUTES)) {
    it.each(CALLERS.map((c) => [c, route.expect[c]] as const))(`${name} as %s -> %s`, async (caller, expected) => {
      const credential = caller === 'anonymous' ? undefined : fixture.creds[caller];
      const path = await route.path(fixture);
      const body = route.body ? await route.body(fixture) : undefined;
      const res = await callCa(fixture.ca, credential, route.method, path, body);
      if (expected === 'ok') {
        expect(res.status, JSON.stringify(res.body)).toBe(route.ok);
      } else {
        const [status, code] = expected.split(' ');
        expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: Number(status), code });
      }
    });
  }
});
