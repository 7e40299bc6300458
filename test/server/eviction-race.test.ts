/**
 * A change of the agent's standing that commits while its request is being
 * signed — an eviction, `cert revoke --agent`, or the revocation of the very
 * SVID it presented: the request passed its checks before the change, and its
 * certificates are recorded after the change's sweep. Neither may leave the
 * agent holding a valid new certificate.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAgentName } from '../../src/identity/agent-name.js';
import { SELF } from '../../src/ca/caller.js';
import { asOperator, attestAgent, callCa, newKeyAndCsr, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

/** Runs `change` once, just before the issuer starts signing `method`'s next call. */
function changeWhileSigning(ca: TestCa, method: 'issueAll' | 'sign', change: () => Promise<unknown>): void {
  const issuer = ca.core.issuer;
  const original = issuer[method].bind(issuer) as (...args: unknown[]) => Promise<unknown>;
  let done = false;
  (issuer as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    if (!done) {
      done = true;
      await change();
    }
    return original(...args);
  };
}

const count = (ca: TestCa, where: string) =>
  (ca.store.db.prepare(`SELECT count(*) AS n FROM certificates WHERE agent = 'node-1' AND ${where}`).get() as { n: number }).n;

type Change = (ca: TestCa, agent: Credential) => Promise<unknown>;

/** The change, the refusal of the request it overtook, and the reason the workload SVIDs recorded meanwhile are revoked for. */
const CHANGES: Array<[string, Change, [number, string], string]> = [
  ['an eviction', (ca) => ca.core.agents.evict(parseAgentName('node-1'), 'operator:test'), [403, 'agent_evicted'], 'cessationOfOperation'],
  ['cert revoke --agent', (ca) => ca.core.services.revocations.revoke({ agent: parseAgentName('node-1') }, 'keyCompromise', 'operator:test'), [401, 'certificate_revoked'], 'keyCompromise'],
  [
    'cert revoke --serial of the agent SVID it presented',
    (ca, agent) => ca.core.services.revocations.revoke({ serial: new X509Certificate(agent.chainPem).serialNumber.toLowerCase() }, 'keyCompromise', 'operator:test'),
    [401, 'certificate_revoked'],
    'keyCompromise',
  ],
];

describe.each(CHANGES)('%s committed while the agent’s request is signed', (_name, change, refusal, reason) => {
  it('fail/workload SVIDs: refused as the next request would be, and what was recorded meanwhile is revoked, for the change’s reason', async () => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const agent = await attestAgent(ca, 'node-1');
    changeWhileSigning(ca, 'issueAll', () => change(ca, agent));
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect([res.status, res.body.error?.code]).toEqual(refusal);
    expect(count(ca, "kind = 'workload'")).toBe(1);
    expect(count(ca, "revoked_at IS NULL AND kind != 'server'")).toBe(0);
    expect(count(ca, `kind = 'workload' AND revocation_reason = '${reason}'`)).toBe(1);
  });

  it('fail/the agent’s own renewal: refused as the next request would be, and no new SVID is left valid', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    changeWhileSigning(ca, 'sign', () => change(ca, agent));
    const res = await callCa(ca, agent, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect([res.status, res.body.error?.code]).toEqual(refusal);
    expect(count(ca, "revoked_at IS NULL AND kind != 'server'")).toBe(0);
  });
});

describe('a revocation of something else while the agent’s request is signed', () => {
  it('pass/the request is served, and only what was revoked is', async () => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const agent = await attestAgent(ca, 'node-1');
    const other = await attestAgent(ca, 'node-2');
    changeWhileSigning(ca, 'issueAll', () => ca.core.services.revocations.revoke({ agent: parseAgentName('node-2') }, 'keyCompromise', SELF));
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect(res.status).toBe(200);
    expect(count(ca, "revoked_at IS NULL AND kind = 'workload'")).toBe(1);
    expect((await callCa(ca, other, 'GET', '/v1/agent/entries')).body.error?.code).toBe('certificate_revoked');
  });
});

describe('a new token used under the agent\'s name while its renewal is signed', () => {
  it('fail/the superseded holder\'s renewal is refused (401 certificate_superseded) and records nothing: the agent\'s serial stays the new holder\'s', async () => {
    const ca = await startTestCa();
    const before = await attestAgent(ca, 'node-1');
    let after: Credential | undefined;
    changeWhileSigning(ca, 'sign', async () => (after = await attestAgent(ca, 'node-1')));
    const res = await callCa(ca, before, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect([res.status, res.body.error?.code]).toEqual([401, 'certificate_superseded']);
    const current = (ca.store.db.prepare("SELECT svid_serial FROM agents WHERE name = 'node-1'").get() as { svid_serial: string }).svid_serial;
    expect(current).toBe(new X509Certificate(after!.chainPem).serialNumber.toLowerCase());
    expect(count(ca, "revoked_at IS NULL AND kind = 'agent'")).toBe(1);
  });
});
