/**
 * Revoking through the operator's API and reading back what it changed: the
 * records, and the CRLs the CA serves (GET /v1/crl, /v1/crl.pem).
 */
import { attestAgent, callCa, newKeyAndCsr, type Credential } from './callers.js';
import { normalSerial } from './crl-inspect.js';
import type { LifecycleCa } from './lifecycle-ca.js';
import type { InProcessCa } from './test-ca.js';
import { parseChain, type Credential as MintedCredential } from './svids.js';
import { registerWorkload } from './workloads.js';

/** The leaf's serial as meshca records it. */
export const serialOf = (chainPem: string): string => normalSerial(parseChain(chainPem)[0]!.serialNumber);
export const minted = (c: MintedCredential): string => c.answer.svid.serial;

/** POST /v1/certificates/revoke as the local operator. */
export async function revoke(ca: LifecycleCa, body: Record<string, unknown>): Promise<{ status: number; body: { revoked?: number; serials?: string[]; error?: { code: string } } }> {
  const res = await ca.localApp.inject({ method: 'POST', url: '/v1/certificates/revoke', payload: body });
  return { status: res.statusCode, body: res.json() };
}

/** GET /v1/crl (the signing intermediate's, or `issuer`'s) as DER; throws unless it is a 200 application/pkix-crl. */
export async function crlDer(ca: LifecycleCa, issuer?: string): Promise<Buffer> {
  const res = await ca.localApp.inject({ method: 'GET', url: `/v1/crl${issuer ? `?issuer=${issuer}` : ''}` });
  if (res.statusCode !== 200 || res.headers['content-type'] !== 'application/pkix-crl') {
    throw new Error(`GET /v1/crl -> ${res.statusCode} ${res.headers['content-type']} ${res.body}`);
  }
  return res.rawPayload;
}

/** GET /v1/crl.pem: every CRL of the CA. */
export async function crlPem(ca: LifecycleCa): Promise<string> {
  const res = await ca.localApp.inject({ method: 'GET', url: '/v1/crl.pem' });
  if (res.statusCode !== 200) throw new Error(`GET /v1/crl.pem -> ${res.statusCode} ${res.body}`);
  return res.body;
}

/** Certificates the datastore holds as revoked, other than the CA's own serving certificates, by serial. */
export function revokedInStore(ca: LifecycleCa): Array<{ serial: string; reason: string; at: number }> {
  return ca.store.db
    .prepare<[], { serial: string; reason: string; at: number }>(
      "SELECT serial, revocation_reason AS reason, revoked_at AS at FROM certificates WHERE revoked_at IS NOT NULL AND kind != 'server' ORDER BY serial",
    )
    .all();
}

/**
 * Attests agent `name` over mutual TLS and has it obtain one workload SVID
 * (spiffe://example.org/ns/prod/sa/NAME-app). The fake clock must be near real time.
 */
export async function agentWithWorkload(ca: InProcessCa, name: string): Promise<{ agent: Credential; agentSerial: string; workloadSerial: string }> {
  const agent = await attestAgent(ca, name);
  const entryId = await registerWorkload(ca, name, `spiffe://example.org/ns/prod/sa/${name}-app`);
  const { csr } = await newKeyAndCsr();
  const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId, csr }] });
  if (res.status !== 200) throw new Error(`workload SVID for ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { agent, agentSerial: serialOf(agent.chainPem), workloadSerial: normalSerial(res.body.svids[0].serial) };
}

/** GET /v1/agent/entries as agent `name` (attested for it): what an agent's sync brings, CRLs included. */
export async function agentSync(ca: InProcessCa, name: string): Promise<{ bundle: string; crl: string; crlIssuers: string }> {
  const res = await callCa(ca, await attestAgent(ca, name), 'GET', '/v1/agent/entries');
  if (res.status !== 200) throw new Error(`sync of ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
