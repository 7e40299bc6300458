/**
 * What a remote operator makes ends no later than the credential it made it
 * with, so that revoking an operator, or letting its credential lapse, leaves
 * nothing of its making that outlives it: admin credentials, minted SVIDs and
 * join tokens alike. The CA host's operator is bound by the maximums alone.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { adminCredential, callCa, newKeyAndCsr, type Credential } from '../support/callers.js';
import { FakeClock } from '../support/fake-clock.js';
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
