/**
 * An operator may issue an admin credential in any name, its own or another
 * operator's or auditor's, as step-ca's and Vault's administrators may. The
 * record says both who asked and for whom: the issuance event's actor and its
 * `holder`, and the certificate listing's `requestedBy` and `holder`, in the
 * words the audit log names callers by.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminCredential, asOperator, callCa, mintCredential, newKeyAndCsr, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
let alice: Credential;
beforeAll(async () => {
  ca = await startTestCa();
  alice = await adminCredential(ca, 'operator', 'alice');
});

const serialOf = (chainPem: string) => new X509Certificate(chainPem).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');

/** The issuance event of `serial` as the audit export shows it. */
async function exportedIssuance(serial: string): Promise<{ actor: string; data: Record<string, unknown> } | undefined> {
  const res = await ca.localApp.inject({ method: 'GET', url: '/v1/audit/events' });
  return res.body
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; actor: string; data: Record<string, unknown> })
    .find((e) => e.type === 'certificate.issued' && e.data['serial'] === serial);
}

/** Issues an admin credential as `by` (undefined: the CA host's operator, on the local socket); its serial. */
async function issue(by: Credential | undefined, role: 'operator' | 'auditor', name: string): Promise<string> {
  const body = { role, name, csr: (await newKeyAndCsr()).csr };
  const svid = by === undefined ? (await asOperator(ca, 'POST', '/v1/admin/credentials', body)).svid : (await callCa(ca, by, 'POST', '/v1/admin/credentials', body)).body.svid;
  return svid.serial as string;
}

describe('who asked for an admin credential, and for whom', () => {
  it.each([
    { name: 'the CA host\'s operator, for an auditor', by: () => undefined, role: 'auditor' as const, holder: 'bob', asked: 'operator:local' },
    { name: 'a remote operator, for another operator', by: () => alice, role: 'operator' as const, holder: 'dave', asked: 'operator:alice' },
    { name: 'a remote operator, for an auditor', by: () => alice, role: 'auditor' as const, holder: 'erin', asked: 'operator:alice' },
    { name: 'a remote operator, in its own name', by: () => alice, role: 'operator' as const, holder: 'alice', asked: 'operator:alice' },
  ])('pass/$name: the event\'s actor is $asked and its holder the credential\'s; so are the listing\'s requestedBy and holder', async ({ by, role, holder, asked }) => {
    const serial = await issue(by(), role, holder);
    expect(await exportedIssuance(serial)).toMatchObject({ actor: asked, data: { kind: 'admin', holder: `${role}:${holder}` } });
    const [listed] = (await asOperator(ca, 'GET', `/v1/certificates?serial=${serial}`)).certificates;
    expect(listed).toMatchObject({ requestedBy: asked, holder: `${role}:${holder}` });
  });

  it('pass/a certificate that is no admin credential lists no holder', async () => {
    const serial = serialOf((await mintCredential(ca, 'spiffe://example.org/meshca-admin/operator/x')).chainPem);
    const [listed] = (await asOperator(ca, 'GET', `/v1/certificates?serial=${serial}`)).certificates;
    expect(listed).toMatchObject({ kind: 'mint', holder: null });
    expect((await exportedIssuance(serial))?.data).not.toHaveProperty('holder');
  });
});
