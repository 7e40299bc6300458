/**
 * A certificate that chains to the bundle is not enough: the CA accepts a
 * client only if it issued that very certificate, byte for byte as recorded. This is what keeps a stolen intermediate key from minting
 * callers (see "taint" in the README).
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminCredential, attestAgent, caSignedCredential, callCa, newKeyAndCsr, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
let agent: Credential;
beforeAll(async () => {
  ca = await startTestCa();
  agent = await attestAgent(ca, 'node-1');
});

/** The issued agent SVID's serial and key pair, to be reused under another name. */
function issuedParts(c: Credential) {
  const leaf = new X509Certificate(c.chainPem);
  const privateKey = createPrivateKey(c.keyPem);
  return { serial: Buffer.from(leaf.serialNumber, 'hex'), keys: { privateKey, publicKey: createPublicKey(privateKey) } };
}

describe('certificates signed with the CA key but not issued', () => {
  it('the genuine agent SVID is accepted (the control)', async () => {
    expect((await callCa(ca, agent, 'GET', '/v1/agent/entries')).status).toBe(200);
  });

  it.each([
    ['a fresh serial and key for an agent identity', 'spiffe://example.org/meshca/agent/node-1', false],
    ['a fresh serial and key for an operator identity', 'spiffe://example.org/meshca/admin/operator/mallory', false],
    ['the issued serial and key under an operator identity', 'spiffe://example.org/meshca/admin/operator/mallory', true],
    ['the issued serial and key under another agent', 'spiffe://example.org/meshca/agent/node-2', true],
  ])('%s → 401 certificate_untrusted', async (_name, spiffeId, reuse) => {
    const forged = await caSignedCredential(ca, spiffeId, reuse ? issuedParts(agent) : {});
    const path = spiffeId.includes('/admin/') ? '/v1/agents' : '/v1/agent/entries';
    const res = await callCa(ca, forged, 'GET', path);
    expect([res.status, res.body.error.code]).toEqual([401, 'certificate_untrusted']);
  });

  it('the issued serial, key and SPIFFE ID with a later expiry (a lapsed credential made new) → 401 certificate_untrusted', async () => {
    const issued = new X509Certificate(agent.chainPem);
    const laterExpiry = Math.floor(Date.parse(issued.validTo) / 1000) + 10 * 86400;
    const forged = await caSignedCredential(ca, 'spiffe://example.org/meshca/agent/node-1', { ...issuedParts(agent), notAfter: laterExpiry });
    const res = await callCa(ca, forged, 'GET', '/v1/agent/entries');
    expect([res.status, res.body.error.code]).toEqual([401, 'certificate_untrusted']);
  });

  it('a genuine operator credential still works (the control)', async () => {
    const operator = await adminCredential(ca, 'operator', 'alice');
    expect((await callCa(ca, operator, 'GET', '/v1/agents')).status).toBe(200);
  });
});

describe('an administrator name that would pass for the CA host itself', () => {
  const issued = () => (ca.store.db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE kind = 'admin'").get() as { n: number }).n;

  it.each([
    ['operator', 'local', 400],
    ['auditor', 'local', 400],
    ['operator', 'Local', 400],
    ['auditor', 'LOCAL', 400],
    ['operator', 'local-ops', 200],
  ] as const)('%s credential named %s → %i', async (role, name, status) => {
    const before = issued();
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/admin/credentials', payload: { role, name, csr: (await newKeyAndCsr()).csr } });
    expect(res.statusCode).toBe(status);
    if (status === 400) {
      expect(res.json().error).toMatchObject({ code: 'invalid_name', message: expect.stringContaining('operator:local') });
      expect(issued()).toBe(before);
    } else {
      expect(issued()).toBe(before + 1);
    }
  });
});
