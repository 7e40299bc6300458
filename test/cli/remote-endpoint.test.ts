/**
 * How the CLI reaches a CA on another host (--server with --credential):
 * it presents the credential, takes for the CA only a server whose
 * certificate chains to the credential's bundle and is the CA's own SVID
 * (spiffe://<td>/meshca/server) in the credential's trust domain, and sends
 * nothing to any other. Stand-in servers here are Node's own HTTPS server
 * with certificates of the test's choosing, recording what reaches them.
 */
import { X509Certificate } from 'node:crypto';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
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
const CA_ID = 'spiffe://example.org/meshca/server';

async function keyAndSvid(ca: MiniCa, spiffeId: string, ipv4: readonly string[] = []): Promise<{ keyPem: string; chainPem: string }> {
  const keys = await generateKeyPair('ec-p256');
  const svid = await ca.issue(await createCsr(keys.privateKey, keys.publicKey), spiffeId, 3600, undefined, { ipv4 });
  return { keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, chainPem: svid.chainPem };
}

describe('remoteEndpoint', () => {
  let ca: MiniCa;
  let otherCa: MiniCa;
  let credentialDir: string;
  let server: Server | TcpServer | undefined;
  const sockets = new Set<Socket>();
  /** "METHOD path" of every request that reached the stand-in. */
  let received: string[];

  beforeAll(async () => {
    [ca, otherCa] = await Promise.all([MiniCa.create(), MiniCa.create()]);
    const keys = await generateKeyPair('ec-p256');
    const svid = await ca.issue(await createCsr(keys.privateKey, keys.publicKey), OPERATOR, 3600);
    credentialDir = join(tempDir(), 'cred');
    await writeCredentialFiles(credentialDir, keys.privateKey, svid.chainPem, ca.bundlePem);
  });

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  });

  async function listen(s: Server | TcpServer): Promise<URL> {
    server = s;
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return new URL(`https://127.0.0.1:${(s.address() as AddressInfo).port}`);
  }

  /**
   * A stand-in CA on 127.0.0.1 that answers, after `delayMs`, with the SPIFFE ID of the client certificate it was shown;
   * and GET /v1/crl.pem, which the client asks first, with `crlPem` (by default the CA's CRL revoking nothing), not recorded.
   */
  async function standIn(serving: { keyPem: string; chainPem: string }, delayMs = 0, crlPem?: string): Promise<URL> {
    received = [];
    const crls = crlPem ?? (await ca.crlPem([]));
    return listen(
      createServer({ key: serving.keyPem, cert: serving.chainPem, ca: ca.bundlePem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
        if (req.method === 'GET' && req.url === '/v1/crl.pem') return void res.end(crls);
        received.push(`${req.method} ${req.url}`);
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        setTimeout(() => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ client: peer.subjectaltname }));
        }, delayMs);
      }),
    );
  }

  const client = (url: URL, connectTimeoutMs?: number) => new AdminClient(remoteEndpoint(url, credentialDir, systemClock, connectTimeoutMs));

  it('presents the credential to a server with the CA\'s SVID, sending the path as typed', async () => {
    const url = await standIn(await keyAndSvid(ca, CA_ID, ['127.0.0.1']));
    const answer = await client(url).call<Record<string, string>>('DELETE', '/v1/entries/..');
    expect(answer).toEqual({ client: `URI:${OPERATOR}` });
    expect(received).toEqual(['DELETE /v1/entries/..']);
  });

  it.each([
    {
      name: 'a workload SVID of the same CA (an entry may grant any name)',
      serving: () => keyAndSvid(ca, 'spiffe://example.org/ns/web', ['127.0.0.1']),
      says: 'is not the CA: its certificate is for spiffe://example.org/ns/web, not spiffe://<trust domain>/meshca/server',
    },
    {
      name: 'the CA of another trust domain under the same root',
      serving: () => keyAndSvid(ca, 'spiffe://staging.example/meshca/server', ['127.0.0.1']),
      says: 'it is spiffe://staging.example/meshca/server, the CA of another trust domain than example.org',
    },
    {
      name: 'the CA\'s SVID from a CA the bundle does not hold',
      serving: () => keyAndSvid(otherCa, CA_ID, ['127.0.0.1']),
      says: 'unable to verify the first certificate',
    },
    {
      name: 'the CA\'s SVID without the address dialled',
      serving: () => keyAndSvid(ca, CA_ID),
      says: 'IP: 127.0.0.1 is not in the cert\'s list',
    },
  ])('refuses $name, sending it nothing', async ({ serving, says }) => {
    const url = await standIn(await serving());
    const err = await client(url).call('POST', '/v1/tokens', { agent: 'node-1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toContain(`${url.origin} is not the CA this credential trusts (${credentialDir}/bundle.pem)`);
    expect((err as Error).message).toContain(says);
    expect((err as Error).message).toMatch(/; check --server, and that this credential is from that CA and still valid$/);
    expect(received).toEqual([]);
  });

  it('still refuses an impostor with NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment', async () => {
    const url = await standIn(await keyAndSvid(otherCa, 'spiffe://example.org/ns/web', ['127.0.0.1']));
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const err = await client(url).call('POST', '/v1/tokens', { agent: 'node-1' }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('is not the CA this credential trusts');
    expect(received).toEqual([]);
  });

  it('counts a closed port as no CA answering (exit 69), not a refusal', async () => {
    const url = await standIn(await keyAndSvid(ca, CA_ID, ['127.0.0.1']));
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const err = await client(url).call('GET', '/v1/tokens').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toBe(`no CA answers at ${url.origin} (ECONNREFUSED)`);
  });

  it('gives up on a server that accepts the connection and never completes the handshake: nothing was sent', async () => {
    const url = await listen(createTcpServer(() => undefined));
    const started = performance.now();
    const err = await client(url, 300).call('POST', '/v1/tokens', { agent: 'node-1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toBe(`no answer from ${url.origin} in 0.3 s`);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  describe("the CA's own CRLs, asked for before anything is sent", () => {
    const REFUSED = 'is not to be trusted as the CA, so nothing was sent to it';

    it.each([
      { name: 'its serving certificate, revoked by its issuer (a leaked serving key)', crls: (servingSerial: string) => ca.crlPem([servingSerial]), says: 'which the CA revoked' },
      { name: 'no CRL at all', crls: async () => '', says: 'it sent no current CRL signed by' },
      { name: "a CRL in its issuer's name that another CA signed", crls: () => otherCa.crlPemAs(ca, []), says: 'it sent no current CRL signed by' },
    ])('refuses a server whose CRLs hold $name', async ({ crls, says }) => {
      const serving = await keyAndSvid(ca, CA_ID, ['127.0.0.1']);
      const url = await standIn(serving, 0, await crls(new X509Certificate(serving.chainPem).serialNumber.toLowerCase()));
      const err = await client(url).call('POST', '/v1/tokens', { agent: 'node-1' }).catch((e: unknown) => e);
      expect((err as Error).message).toContain(`${url.origin} ${REFUSED}`);
      expect((err as Error).message).toContain(says);
      expect(received).toEqual([]);
    });

    it("refuses a tainted intermediate hidden behind a look-alike sent before it (a chain followed by name, not signature)", async () => {
      const intermediate = await ca.subordinate();
      const serving = await keyAndSvid(intermediate, CA_ID, ['127.0.0.1']);
      const [leafPem, intermediatePem] = serving.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
      const tainted = new X509Certificate(intermediatePem!).serialNumber.toLowerCase();
      const crls = (await intermediate.crlPem([])) + (await ca.crlPem([tainted]));
      const url = await standIn({ keyPem: serving.keyPem, chainPem: leafPem! + (await intermediate.lookAlikePem()) + intermediatePem! }, 0, crls);
      const err = await client(url).call('POST', '/v1/tokens', { agent: 'node-1' }).catch((e: unknown) => e);
      expect((err as Error).message).toContain(`${url.origin} is not the CA this credential trusts`);
      expect((err as Error).message).toContain('are not each signed by the next up to a root of the bundle');
      expect(received).toEqual([]);
    });

    it.each([
      { name: 'cuts the connection', answer: (res: ServerResponse) => res.socket!.destroy() },
      { name: 'sends more than any CA has', answer: (res: ServerResponse) => void res.end(Buffer.alloc(33 * 1024 * 1024, 0x41)) },
    ])('says nothing was sent when the server $name while the CLI reads its CRLs (not that the command may have been carried out)', async ({ answer }) => {
      const serving = await keyAndSvid(ca, CA_ID, ['127.0.0.1']);
      received = [];
      const url = await listen(
        createServer({ key: serving.keyPem, cert: serving.chainPem }, (req, res) => {
          if (req.url === '/v1/crl.pem') return void answer(res);
          received.push(`${req.method} ${req.url}`);
          res.end('{}');
        }),
      );
      const err = await client(url).call('POST', '/v1/certificates/revoke', { agent: 'node-1' }).catch((e: unknown) => e);
      expect((err as Error).message).not.toContain('may have been carried out');
      expect((err as Error).message).toContain(`${url.origin} ${REFUSED}: its CRLs could not be read`);
      expect(received).toEqual([]);
    });

    it('refuses, in the handshake, a later connection that shows a certificate those CRLs list', async () => {
      const [first, revoked] = [await keyAndSvid(ca, CA_ID, ['127.0.0.1']), await keyAndSvid(ca, CA_ID, ['127.0.0.1'])];
      const url = await standIn(first, 0, await ca.crlPem([new X509Certificate(revoked.chainPem).serialNumber.toLowerCase()]));
      const admin = client(url);
      await expect(admin.call('GET', '/v1/tokens')).resolves.toEqual({ client: `URI:${OPERATOR}` });
      (server as Server).setSecureContext({ key: revoked.keyPem, cert: revoked.chainPem, ca: ca.bundlePem });
      const err = await admin.call('POST', '/v1/tokens', { agent: 'node-1' }).catch((e: unknown) => e);
      expect((err as Error).message).toContain('is not the CA this credential trusts');
      expect((err as Error).message).toContain('which the CA revoked');
      expect(received).toEqual(['GET /v1/tokens']);
    });
  });

  it('once the request is sent, waits for the answer however long the CA takes (giving up could hide a change made)', async () => {
    const url = await standIn(await keyAndSvid(ca, CA_ID, ['127.0.0.1']), 900);
    await expect(client(url, 300).call('POST', '/v1/tokens', { agent: 'node-1' })).resolves.toEqual({ client: `URI:${OPERATOR}` });
  });

  it('says a request cut off after it was sent may have been carried out (exit 1, not 69)', async () => {
    const serving = await keyAndSvid(ca, CA_ID, ['127.0.0.1']);
    const crls = await ca.crlPem([]);
    received = [];
    const url = await listen(
      createServer({ key: serving.keyPem, cert: serving.chainPem }, (req, res) => {
        if (req.url === '/v1/crl.pem') return void res.end(crls);
        received.push(`${req.method} ${req.url}`);
        req.socket.destroy();
      }),
    );
    const err = await client(url).call('POST', '/v1/certificates/revoke', { agent: 'node-1' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(CaUnreachableError);
    expect((err as Error).message).toContain(`the request to ${url.origin} failed after it was sent, so it may have been carried out`);
    expect(received).toEqual(['POST /v1/certificates/revoke']);
  });
});
