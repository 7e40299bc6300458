/**
 * A client that sends its certificate without the intermediate that signed it
 * (curl --cert leaf.pem; an operator credential another tool wrote that way)
 * is verified: the TLS listener knows the CA's intermediates as material to
 * build the chain from, not as trust anchors. What does not chain to a root of
 * the bundle through an intermediate the CA stands by is still refused.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificatesToPem, decodeCertificates } from '../../src/x509/pem.js';
import { adminCredential, attestAgent, newKeyAndCsr, type Credential } from '../support/callers.js';
import { MiniCa } from '../support/mini-ca.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';

/** The first certificate of a chain alone, PEM. */
const leafOnly = (chainPem: string) => certificatesToPem([decodeCertificates(chainPem)[0]!]);

/** One GET with the curl binary, presenting `chainPem` (as given) and its key, verifying the CA with its bundle; the HTTP status and error code. */
function curlAs(ca: TestCa, chainPem: string, keyPem: string, path: string): Promise<{ status: number; code: string | undefined }> {
  const dir = tempDir();
  const files = { cacert: join(dir, 'bundle.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  writeFileSync(files.cacert, ca.bundlePem);
  writeFileSync(files.cert, chainPem);
  writeFileSync(files.key, keyPem, { mode: 0o600 });
  const args = ['-sS', '--max-time', '10', '--cacert', files.cacert, '--cert', files.cert, '--key', files.key, '-w', '\n%{http_code}', `${ca.url}${path}`];
  return new Promise((resolve, reject) => {
    execFile('curl', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl failed: ${stderr}`));
      const cut = stdout.lastIndexOf('\n');
      const body = stdout.slice(0, cut);
      resolve({ status: Number(stdout.slice(cut + 1)), code: body.startsWith('{') ? (JSON.parse(body) as { error?: { code: string } }).error?.code : undefined });
    });
  });
}

let ca: TestCa;
let operator: Credential;
beforeAll(async () => {
  ca = await startTestCa();
  operator = await adminCredential(ca, 'operator', 'alice');
});

describe('a client certificate sent without its intermediate, with curl', () => {
  it('fail/an operator credential, leaf alone, is accepted as the full chain is', async () => {
    expect(decodeCertificates(operator.chainPem)).toHaveLength(2);
    expect(await curlAs(ca, leafOnly(operator.chainPem), operator.keyPem, '/v1/agents')).toEqual({ status: 200, code: undefined });
    expect(await curlAs(ca, operator.chainPem, operator.keyPem, '/v1/agents')).toEqual({ status: 200, code: undefined });
  });

  it('fail/an agent SVID, leaf alone, is accepted', async () => {
    const agent = await attestAgent(ca, 'leaf-only-1');
    expect(await curlAs(ca, leafOnly(agent.chainPem), agent.keyPem, '/v1/agent/entries')).toEqual({ status: 200, code: undefined });
  });

  it('pass/a leaf of a foreign intermediate (its root is not in the bundle) is refused, sent alone or with its intermediate', async () => {
    const foreign = await (await MiniCa.create()).subordinate();
    const { keyPem, csr } = await newKeyAndCsr();
    const svid = await foreign.issue(csr, 'spiffe://example.org/meshca/admin/operator/mallory', 3600);
    expect(await curlAs(ca, leafOnly(svid.chainPem), keyPem, '/v1/agents')).toEqual({ status: 401, code: 'certificate_untrusted' });
    expect(await curlAs(ca, svid.chainPem, keyPem, '/v1/agents')).toEqual({ status: 401, code: 'certificate_untrusted' });
  });
});

describe('a tainted intermediate', () => {
  it('fail/is no chain-building material any more: its agent SVID (which a taint keeps) is refused sent alone, accepted with its intermediate; the new one\'s leaves are accepted alone', async () => {
    const own = await startTestCa();
    const agent = await attestAgent(own, 'node-1');
    const tainted = own.manager.current().activeIntermediate()!.record.id;
    expect((await own.localApp.inject({ method: 'POST', url: `/v1/authorities/${tainted}/taint` })).statusCode).toBe(200);
    expect(own.manager.current().activeIntermediate()!.record.id).not.toBe(tainted);
    expect(await curlAs(own, leafOnly(agent.chainPem), agent.keyPem, '/v1/agent/entries')).toEqual({ status: 401, code: 'certificate_untrusted' });
    expect(await curlAs(own, agent.chainPem, agent.keyPem, '/v1/agent/entries')).toEqual({ status: 200, code: undefined });
    // The intermediate that took its place is known to the listener from then on.
    const next = await attestAgent(own, 'node-2');
    expect(await curlAs(own, leafOnly(next.chainPem), next.keyPem, '/v1/agent/entries')).toEqual({ status: 200, code: undefined });
  });
});

/**
 * What the listener relies on, checked against this Node's OpenSSL: an
 * intermediate among a server's `ca` certificates is no trust anchor. A leaf it
 * signed is refused when its root is not among them too (OpenSSL without
 * X509_V_FLAG_PARTIAL_CHAIN requires a self-signed root), and accepted once it is.
 */
describe("Node's tls `ca` option, given an intermediate", () => {
  let foreignRoot: MiniCa;
  let intermediate: MiniCa;
  let client: { keyPem: string; leafPem: string };
  beforeAll(async () => {
    foreignRoot = await MiniCa.create();
    intermediate = await foreignRoot.subordinate();
    const { keyPem, csr } = await newKeyAndCsr();
    client = { keyPem, leafPem: leafOnly((await intermediate.issue(csr, 'spiffe://example.org/client', 3600)).chainPem) };
  });
  const servers: Array<{ close(): void }> = [];
  afterAll(() => servers.forEach((s) => s.close()));

  /** Whether a server trusting `caPem` authorizes the client's leaf sent alone. */
  async function authorizes(caPem: string): Promise<{ authorized: boolean; error: string | null }> {
    const serving = await (await MiniCa.create()).subordinate();
    const { keyPem, csr } = await newKeyAndCsr();
    const cert = await serving.issue(csr, 'spiffe://example.org/server', 3600, undefined, { ipv4: ['127.0.0.1'] });
    return new Promise((resolve, reject) => {
      const tls = createServer({ key: keyPem, cert: cert.chainPem, ca: caPem, requestCert: true, rejectUnauthorized: false }, (socket: TLSSocket) => {
        resolve({ authorized: socket.authorized, error: socket.authorized ? null : String(socket.authorizationError) });
        socket.end();
      });
      servers.push(tls);
      tls.listen(0, '127.0.0.1', () => {
        const port = (tls.address() as { port: number }).port;
        const c = connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.leafPem, rejectUnauthorized: false }, () => c.end());
        c.on('error', reject);
      });
    });
  }

  it.each([
    ['the intermediate alone', () => intermediate.certificatePem, { authorized: false, error: 'UNABLE_TO_GET_ISSUER_CERT' }],
    ['the intermediate beside an unrelated root', async () => intermediate.certificatePem + (await MiniCa.create()).bundlePem, { authorized: false, error: 'UNABLE_TO_GET_ISSUER_CERT' }],
    ['the intermediate and its root (the control)', () => intermediate.certificatePem + foreignRoot.bundlePem, { authorized: true, error: null }],
  ])('with %s', async (_what, caPem, expected) => {
    expect(await authorizes(await caPem())).toEqual(expected);
  });
});
