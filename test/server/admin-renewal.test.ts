/**
 * POST /v1/admin/credentials/renew: the holder of an operator's or auditor's
 * credential gets a new one for the same role and name, for the key of its
 * CSR; the issuance is audited as a renewal of the credential presented.
 * Whoever holds no such valid credential is refused, and no other role or
 * name can be asked for.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { adminCredential, asOperator, attestAgent, callCa, expiredCredential, mintCredential, newKeyAndCsr, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';
import { eventRows } from '../support/audit-log.js';
import { waitFor } from '../support/wait.js';

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
});

const leafOf = (chainPem: string) => new X509Certificate(chainPem);
const serialOf = (chainPem: string) => leafOf(chainPem).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const renew = async (credential: Credential | undefined, body?: object) => callCa(ca, credential, 'POST', '/v1/admin/credentials/renew', body ?? { csr: (await newKeyAndCsr()).csr });
const issuanceOf = (serial: string) => {
  const row = eventRows(ca.store.db).find((e) => e.type === 'certificate.issued' && (JSON.parse(e.data) as { serial: string }).serial === serial);
  return row && { actor: row.actor, data: JSON.parse(row.data) as Record<string, unknown> };
};

describe('the holder of an admin credential renews it', () => {
  it.each([
    { role: 'operator' as const, name: 'carol' },
    { role: 'auditor' as const, name: 'bob' },
  ])('pass/an $role: a new credential for the same role and name, the CSR\'s key, audited as a renewal of the one presented', async ({ role, name }) => {
    const held = await adminCredential(ca, role, name);
    const { keyPem, csr } = await newKeyAndCsr();
    const res = await renew(held, { csr, ttl: '2h' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const renewed: Credential = { keyPem, chainPem: res.body.svid.svid };
    const leaf = leafOf(renewed.chainPem);
    expect(leaf.subjectAltName).toBe(`URI:spiffe://example.org/meshca/admin/${role}/${name}`);
    expect(leaf.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(serialOf(renewed.chainPem)).not.toBe(serialOf(held.chainPem));
    expect(Date.parse(leaf.validTo) - Date.now()).toBeGreaterThan(3600_000);
    expect(issuanceOf(res.body.svid.serial)).toMatchObject({
      actor: `${role}:${name}`,
      data: { kind: 'admin', holder: `${role}:${name}`, renewalOf: serialOf(held.chainPem) },
    });
    // The renewed credential is taken, with its role; the one it renews stays valid to its end.
    for (const credential of [renewed, held]) expect((await callCa(ca, credential, 'GET', '/v1/tokens')).status).toBe(200);
  });

  it('pass/a join token made with the credential renewed still admits its agent: renewal revokes nothing', async () => {
    const held = await adminCredential(ca, 'operator', 'tokenmaker');
    const made = await callCa(ca, held, 'POST', '/v1/tokens', { agent: 'after-renewal' });
    expect(made.status).toBe(201);
    expect((await renew(held)).status).toBe(200);
    const attested = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: made.body.token, csr: (await newKeyAndCsr()).csr });
    expect(attested.status, JSON.stringify(attested.body)).toBe(200);
  });

  it('pass/the audit log still verifies with renewals in it', async () => {
    expect((await renew(await adminCredential(ca, 'auditor', 'vera'))).status).toBe(200);
    expect((await asOperator(ca, 'POST', '/v1/audit/verify', {})).ok).toBe(true);
  });
});

describe('a renewal is refused', () => {
  it.each([
    { name: 'without a client certificate', caller: async () => undefined, status: 401, code: 'unauthenticated' },
    { name: 'with an expired credential', caller: () => expiredCredential(ca, 'spiffe://example.org/meshca/admin/operator/olden'), status: 401, code: 'certificate_expired' },
    {
      name: 'with a revoked credential',
      caller: async () => {
        const held = await adminCredential(ca, 'operator', 'rev');
        await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: serialOf(held.chainPem), reason: 'keyCompromise' });
        return held;
      },
      status: 401,
      code: 'certificate_revoked',
    },
    { name: 'to an agent', caller: () => attestAgent(ca, 'renewing-agent'), status: 403, code: 'forbidden' },
    { name: 'to a workload SVID', caller: () => mintCredential(ca, 'spiffe://example.org/ns/web'), status: 403, code: 'forbidden' },
  ])('fail/$name -> $status $code', async ({ caller, status, code }) => {
    const res = await renew(await caller());
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  });

  it.each([
    ['another name', { name: 'mallory' }],
    ['another role', { role: 'operator' }],
  ])('fail/asking for %s: the body names no role or name -> 400 invalid_request, nothing issued', async (_name, extra) => {
    const held = await adminCredential(ca, 'auditor', 'amy');
    const before = eventRows(ca.store.db).length;
    const res = await renew(held, { csr: (await newKeyAndCsr()).csr, ...extra });
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: 400, code: 'invalid_request' });
    expect(eventRows(ca.store.db).filter((e, i) => i >= before && e.type === 'certificate.issued')).toEqual([]);
  });

  it('fail/a refused renewal is audited as a refused issuance, naming the caller and the route', async () => {
    const agent = await attestAgent(ca, 'refused-renewer');
    expect((await renew(agent)).status).toBe(403);
    await waitFor('the refusal audited', () => eventRows(ca.store.db).some((e) => e.type === 'issuance.refused' && e.actor === 'agent:refused-renewer'), 5_000, 10);
    const refused = eventRows(ca.store.db).find((e) => e.type === 'issuance.refused' && e.actor === 'agent:refused-renewer')!;
    expect(JSON.parse(refused.data)).toMatchObject({ route: 'POST /v1/admin/credentials/renew', reason: 'forbidden' });
  });

  it('fail/past a burst of 10 renewals, a holder is told to wait (429 rate_limited, Retry-After), and nothing more is issued', async () => {
    const held = await adminCredential(ca, 'auditor', 'flooder');
    const issuedBefore = eventRows(ca.store.db).filter((e) => e.type === 'certificate.issued').length;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await renew(held)).status);
    expect(statuses).toEqual([...Array<number>(10).fill(200), 429]);
    const refused = await renew(held);
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(eventRows(ca.store.db).filter((e) => e.type === 'certificate.issued').length - issuedBefore).toBe(10);
  });

  it('fail/to the CA host\'s operator on the local socket, who holds no credential -> 403 forbidden', async () => {
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/admin/credentials/renew', payload: { csr: (await newKeyAndCsr()).csr } });
    expect({ status: res.statusCode, code: res.json().error.code }).toEqual({ status: 403, code: 'forbidden' });
  });

  it('fail/when the credential is revoked while the renewal is signed: the renewal is revoked too -> 401 certificate_revoked', async () => {
    const held = await adminCredential(ca, 'operator', 'racer');
    const issuer = ca.core.services.issuer;
    const issue = issuer.issue.bind(issuer);
    let issued = '';
    const spy = vi.spyOn(issuer, 'issue').mockImplementation(async (req) => {
      const svid = await issue(req);
      issued = svid.serial;
      await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: serialOf(held.chainPem), reason: 'keyCompromise' });
      return svid;
    });
    try {
      const res = await renew(held);
      expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: 401, code: 'certificate_revoked' });
    } finally {
      spy.mockRestore();
    }
    const [record] = (await asOperator(ca, 'GET', `/v1/certificates?serial=${issued}`)).certificates;
    expect(record).toMatchObject({ serial: issued, revocationReason: 'keyCompromise' });
  });
});
