/**
 * How the CLI reaches a CA on another host (--server with --credential):
 * it presents the credential, and takes for the CA only a server whose
 * certificate chains to the credential's bundle and is the CA's own SVID
 * (spiffe://<td>/meshca/server). Stand-in servers here are Node's own HTTPS
 * server with certificates of the test's choosing.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient, CaUnreachableError } from '../../src/cli/admin-client.js';
import { writeCredentialFiles } from '../../src/cli/credential-files.js';
import { remoteEndpoint } from '../../src/cli/remote-endpoint.js';
import { systemClock } from '../../src/time/clock.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { MiniCa } from '../support/mini-ca.js';
import { tempDir } from '../support/temp-dir.js';

const OPERATOR = 'spiffe://example.org/meshca/admin/operator/alice';

async function keyAndSvid(ca: MiniCa, spiffeId: string, ipv4: readonly string[] = []): Promise<{ keyPem: string; chainPem: string }> {
  const keys = await generateKeyPair('ec-p256');
  const svid = await ca.issue(await createCsr(keys.privateKey, keys.publicKey), spiffeId, 3600, undefined, ipv4);
  return { keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, chainPem: svid.chainPem };
}

describe('remoteEndpoint', () => {
  let ca: MiniCa;
  let otherCa: MiniCa;
  let credentialDir: string;
  let server: Server | undefined;

  beforeAll(async () => {
    [ca, otherCa] = await Promise.all([MiniCa.create(), MiniCa.create()]);
    const keys = await generateKeyPair('ec-p256');
    const svid = await ca.issue(await createCsr(keys.privateKey, keys.publicKey), OPERATOR, 3600);
    credentialDir = join(tempDir(), 'cred');
    await writeCredentialFiles(credentialDir, keys.privateKey, svid.chainPem, ca.bundlePem);
  });

  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  /** A stand-in CA on 127.0.0.1 that answers with the SPIFFE ID of the client certificate it was shown. */
  async function standIn(serving: { keyPem: string; chainPem: string }): Promise<URL> {
    server = createServer({ key: serving.keyPem, cert: serving.chainPem, ca: ca.bundlePem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, path: req.url, client: peer.subjectaltname }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }

  it('presents the credential to a server with the CA\'s SVID, and reads its answer', async () => {
    const url = await standIn(await keyAndSvid(ca, 'spiffe://example.org/meshca/server', ['127.0.0.1']));
    const answer = await new AdminClient(remoteEndpoint(url, credentialDir, systemClock)).call<Record<string, string>>('GET', '/v1/tokens?limit=5');
    expect(answer).toEqual({ method: 'GET', path: '/v1/tokens?limit=5', client: `URI:${OPERATOR}` });
  });

  it.each([
    {
      name: 'a workload SVID of the same CA (an entry may grant any name)',
      serving: () => keyAndSvid(ca, 'spiffe://example.org/ns/web', ['127.0.0.1']),
      says: 'is not the CA: its certificate is for spiffe://example.org/ns/web, not spiffe://<trust domain>/meshca/server',
    },
    {
      name: 'the CA\'s SVID from a CA the bundle does not hold',
      serving: () => keyAndSvid(otherCa, 'spiffe://example.org/meshca/server', ['127.0.0.1']),
      says: 'unable to verify the first certificate',
    },
    {
      name: 'the CA\'s SVID without the address dialled',
      serving: () => keyAndSvid(ca, 'spiffe://example.org/meshca/server'),
      says: 'IP: 127.0.0.1 is not in the cert\'s list',
    },
  ])('refuses $name, naming the bundle it checked', async ({ serving, says }) => {
    const url = await standIn(await serving());
    const err = await new AdminClient(remoteEndpoint(url, credentialDir, systemClock)).call('GET', '/v1/tokens').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toContain(`${url.origin} is not the CA this credential trusts (${credentialDir}/bundle.pem)`);
    expect((err as Error).message).toContain(says);
  });

  it('counts a closed port as no CA answering (exit 69), not a refusal', async () => {
    const url = await standIn(await keyAndSvid(ca, 'spiffe://example.org/meshca/server', ['127.0.0.1']));
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const err = await new AdminClient(remoteEndpoint(url, credentialDir, systemClock)).call('GET', '/v1/tokens').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toBe(`no CA answers at ${url.origin} (ECONNREFUSED)`);
  });
});
