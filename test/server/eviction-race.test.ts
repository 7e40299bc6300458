/**
 * An eviction that commits while an agent's request is being signed: the
 * request passed its checks before the eviction, and its certificates are
 * recorded after the eviction revoked the agent's certificates. Neither may
 * leave the agent holding a valid new certificate.
 */
import { describe, expect, it } from 'vitest';
import { parseAgentName } from '../../src/identity/agent-name.js';
import { asOperator, attestAgent, callCa, newKeyAndCsr } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

/** Runs `evict` once, just before the issuer starts signing `method`'s next call. */
function evictWhileSigning(ca: TestCa, method: 'issueAll' | 'sign', agent: string): void {
  const issuer = ca.core.issuer;
  const original = issuer[method].bind(issuer) as (...args: unknown[]) => Promise<unknown>;
  let done = false;
  (issuer as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    if (!done) {
      done = true;
      await ca.core.agents.evict(parseAgentName(agent), 'operator:test');
    }
    return original(...args);
  };
}

const liveRows = (ca: TestCa, agent: string) =>
  ca.store.db.prepare("SELECT serial FROM certificates WHERE agent = ? AND revoked_at IS NULL AND kind != 'server'").all(agent);

describe('an eviction committed while the agent’s request is signed', () => {
  it('fail/workload SVIDs: 403 agent_evicted, and what was recorded meanwhile is revoked', async () => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web' });
    const agent = await attestAgent(ca, 'node-1');
    evictWhileSigning(ca, 'issueAll', 'node-1');
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect([res.status, res.body.error?.code]).toEqual([403, 'agent_evicted']);
    expect(ca.store.db.prepare("SELECT count(*) AS n FROM certificates WHERE agent = 'node-1' AND kind = 'workload'").get()).toEqual({ n: 1 });
    expect(liveRows(ca, 'node-1')).toEqual([]);
  });

  it('fail/the agent’s own renewal: 403 agent_evicted, and nothing is recorded', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const before = ca.store.db.prepare("SELECT count(*) AS n FROM certificates WHERE agent = 'node-1'").get();
    evictWhileSigning(ca, 'sign', 'node-1');
    const res = await callCa(ca, agent, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect([res.status, res.body.error?.code]).toEqual([403, 'agent_evicted']);
    expect(ca.store.db.prepare("SELECT count(*) AS n FROM certificates WHERE agent = 'node-1'").get()).toEqual(before);
    expect(liveRows(ca, 'node-1')).toEqual([]);
  });
});
