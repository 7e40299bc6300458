/**
 * What a remote operator makes ends no later than the credential it made it
 * with, so that letting its credential lapse leaves nothing of its making
 * that outlives it: admin credentials, minted SVIDs and join tokens alike.
 * Revoking that credential also stops the join tokens it made (they record
 * its serial); what it issued is revoked by hand (the README's runbook). The
 * CA host's operator is bound by the maximums alone.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminCredential, asOperator, callCa, newKeyAndCsr, type Credential } from '../support/callers.js';
import { FakeClock } from '../support/fake-clock.js';
import { serialOf } from '../support/revocations.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const endOf = (pem: string) => Date.parse(new X509Certificate(pem).validTo);

/** Each thing an operator makes, asked for with a lifetime past the operator's hour, and when what it made ends (ms). */
const MAKERS: Array<[string, (ca: TestCa, as: Credential | 'local') => Promise<number>]> = [
  ['an admin credential', async (ca, as) => endOf((await ask(ca, as, '/v1/admin/credentials', { role: 'auditor', name: 'ann', ttl: '4h', csr: (await newKeyAndCsr()).csr })).svid.svid)],
  ['a minted SVID', async (ca, as) => endOf((await ask(ca, as, '/v1/svids/mint', { spiffeId: 'spiffe://example.org/ns/batch', ttl: '4h', csr: (await newKeyAndCsr()).csr })).svid.svid)],
  ['a join token', async (ca, as) => Date.parse((await ask(ca, as, '/v1/tokens', { agent: 'node-1', ttl: '30d' })).expiresAt)],
];

async function ask(ca: TestCa, as: Credential | 'local', url: string, body: object): Promise<any> {
  if (as === 'local') {
    const res = await ca.localApp.inject({ method: 'POST', url, payload: body });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json();
  }
  const res = await callCa(ca, as, 'POST', url, body);
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body;
}

describe("a remote operator's making ends with its credential", () => {
  it.each(MAKERS)('%s', async (_what, make) => {
    const ca = await startTestCa({}, { clock: new FakeClock(Date.now()) });
    const operator = await adminCredential(ca, 'operator', 'olga');
    expect(await make(ca, operator)).toBe(endOf(operator.chainPem));
    expect(await make(ca, 'local')).toBeGreaterThan(endOf(operator.chainPem));
  });

  it('a join token of a remote operator no longer admits an agent once the operator credential has ended', async () => {
    const clock = new FakeClock(Date.now());
    const ca = await startTestCa({}, { clock });
    const operator = await adminCredential(ca, 'operator', 'olga');
    const { token } = await ask(ca, operator, '/v1/tokens', { agent: 'node-1', ttl: '30d' });
    clock.set(endOf(operator.chainPem));
    const attested = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    expect({ status: attested.status, code: attested.body.error?.code }).toEqual({ status: 401, code: 'invalid_token' });
  });
});

describe("a remote operator's join tokens, once the credential that made them is revoked", () => {
  /** Who made each token: a credential of olga's the local operator then revokes, another of olga's, the local operator. */
  const MAKERS = [
    { maker: 'the revoked credential', agent: 'node-stolen', admits: false },
    { maker: "another, unrevoked credential of the same operator's name", agent: 'node-spare', admits: true },
    { maker: 'the local operator', agent: 'node-local', admits: true },
  ] as const;
  let ca: TestCa;
  const tokens = new Map<string, { token: string; id: string }>();
  const serials = new Map<string, string | null>([['node-local', null]]);

  const attest = async (token: string) => callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
  const listed = async (agent?: string): Promise<Array<{ id: string; agent: string; createdBy: string; creatorSerial: string | null }>> =>
    (await asOperator(ca, 'GET', `/v1/tokens${agent ? `?agent=${agent}` : ''}`)).tokens;
  const tokenEvents = async (type: string): Promise<Array<Record<string, unknown>>> =>
    (await ca.localApp.inject({ method: 'GET', url: '/v1/audit/events' })).body.trim().split('\n')
      .map((line) => JSON.parse(line) as { type: string; data: Record<string, unknown> }).filter((e) => e.type === type).map((e) => e.data);

  beforeAll(async () => {
    ca = await startTestCa();
    const stolen = await adminCredential(ca, 'operator', 'olga');
    const spare = await adminCredential(ca, 'operator', 'olga');
    for (const [agent, by] of [['node-stolen', stolen], ['node-spare', spare]] as const) {
      tokens.set(agent, await ask(ca, by, '/v1/tokens', { agent }));
      serials.set(agent, serialOf(by.chainPem));
    }
    tokens.set('node-local', await ask(ca, 'local', '/v1/tokens', { agent: 'node-local' }));
    // As `meshca cert revoke --serial S` does, on the CA host.
    expect(await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: serials.get('node-stolen'), reason: 'keyCompromise' })).toEqual({ revoked: 1, serials: [serials.get('node-stolen')] });
    expect((await callCa(ca, stolen, 'GET', '/v1/tokens')).status).toBe(401);
  });

  it('each token, as listed and in its token.created event, names the credential that made it (null: the local operator)', async () => {
    expect((await listed()).map((t) => [t.agent, t.createdBy, t.creatorSerial]).sort()).toEqual([
      ['node-local', 'operator:local', null],
      ['node-spare', 'operator:olga', serials.get('node-spare')],
      ['node-stolen', 'operator:olga', serials.get('node-stolen')],
    ]);
    expect((await tokenEvents('token.created')).map((d) => [d['agent'], d['creatorSerial']]).sort()).toEqual([...serials].sort());
  });

  it.each(MAKERS)('a token made by $maker admits an agent: $admits', async ({ agent, admits }) => {
    const made = tokens.get(agent)!;
    const res = await attest(made.token);
    if (admits) {
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(await listed(agent)).toEqual([]);
      return;
    }
    expect({ status: res.status, error: res.body.error }).toEqual({
      status: 401,
      error: expect.objectContaining({ code: 'invalid_token', message: expect.stringContaining('made with an operator credential that has since been revoked') }),
    });
    // Left unspent: no agent admitted, nothing logged as its use, and the operator can still revoke it.
    expect((await listed(agent)).map((t) => t.id)).toEqual([made.id]);
    expect((await tokenEvents('token.used')).map((d) => d['tokenHash'])).not.toContain(made.id);
    expect((await asOperator(ca, 'GET', '/v1/agents')).agents.map((a: { name: string }) => a.name)).not.toContain(agent);
    expect((await ca.localApp.inject({ method: 'POST', url: `/v1/tokens/${made.id}/revoke` })).statusCode).toBe(200);
  });
});
