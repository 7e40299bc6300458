/** The agent's HTTPS client keeps its connections alive across syncs, and starts over only when its credential or trust changes. */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { UntrustedAnswerError } from '../../src/agent/ca-answers.js';
import { CaClient, MAX_ANSWER_BYTES } from '../../src/agent/ca-client.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { cleanupLater } from '../support/cleanup.js';
import { MiniCa } from '../support/mini-ca.js';
import { selfSigned } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

type Answer = (res: ServerResponse, certPem: string) => void;

const syncAnswer: Answer = (res, certPem) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ entries: [], bundle: certPem, bundleSequence: 1 }));
};

/** A server on 127.0.0.1 with a self-signed certificate for `san`, answering every request with `answer`. */
async function countingServer(
  answer: Answer = syncAnswer,
  san = 'IP:127.0.0.1,URI:spiffe://example.org/meshca/server',
): Promise<{ url: URL; certPem: string; keyPem: string; connections: () => number }> {
  const files = selfSigned(tempDir(), 'ca-host', { extensions: [`subjectAltName=${san}`, 'basicConstraints=critical,CA:TRUE'] });
  const certPem = readFileSync(files.cert, 'utf8');
  const keyPem = readFileSync(files.key, 'utf8');
  let connections = 0;
  const server = createServer({ cert: certPem, key: keyPem }, (_req, res) => answer(res, certPem));
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanupLater(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  return { url: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), certPem, keyPem, connections: () => connections };
}

/** A client of `serverUrl` that trusts only a root of its own, which vouches for no server. */
function trustingAStranger(serverUrl: URL): CaClient {
  const client = new CaClient({ serverUrl });
  cleanupLater(() => client.close());
  client.configure(readFileSync(selfSigned(tempDir(), 'stranger').cert, 'utf8'), undefined);
  return client;
}

describe('CaClient', () => {
  it('reuses one connection when configured again with an equal credential, and opens a new one when it changes', async () => {
    const server = await countingServer();
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    const credential = () => ({ keyPem: server.keyPem, chainPem: server.certPem });

    for (let i = 0; i < 3; i++) {
      client.configure(server.certPem, credential()); // a new object each time, as every sync builds one
      await client.sync();
    }
    expect(server.connections()).toBe(1);

    client.configure(server.certPem, { ...credential(), chainPem: server.certPem + '\n' });
    await client.sync();
    expect(server.connections()).toBe(2);
  });

  it.each([
    ['a workload SVID of the same CA, for the host name dialled', 'IP:127.0.0.1,URI:spiffe://example.org/ns/web', /is not the CA: its certificate is for spiffe:\/\/example.org\/ns\/web/],
    ['a certificate without a SPIFFE ID', 'IP:127.0.0.1', /is not the CA: its certificate is for no SPIFFE ID/],
    ['the CA\'s SPIFFE ID for another host', 'DNS:elsewhere.example,URI:spiffe://example.org/meshca/server', /does not match certificate's altnames|IP: 127.0.0.1 is not in the cert's list/],
  ])('refuses a server whose certificate is %s', async (_name, san, message) => {
    const server = await countingServer(syncAnswer, san);
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    await expect(client.sync()).rejects.toThrow(message);
  });

  it('once it holds an SVID, refuses the CA of another trust domain under the same root, which it took for the CA before', async () => {
    const server = await countingServer(syncAnswer, 'IP:127.0.0.1,URI:spiffe://staging.example/meshca/server');
    const own = selfSigned(tempDir(), 'agent', { extensions: ['subjectAltName=URI:spiffe://example.org/meshca/agent/node-1'] });
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    await expect(client.sync()).resolves.toBeDefined();
    client.configure(server.certPem, { keyPem: readFileSync(own.key, 'utf8'), chainPem: readFileSync(own.cert, 'utf8') });
    await expect(client.sync()).rejects.toThrow('it is spiffe://staging.example/meshca/server, the CA of another trust domain than example.org');
  });

  it('refuses a server the bundle does not vouch for even with NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment', async () => {
    const client = trustingAStranger((await countingServer()).url);
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      await expect(client.sync()).rejects.toThrow(/self-signed certificate|unable to verify/);
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
  });

  it('names a server no trusted root vouches for, and what to check, rather than only OpenSSL\'s verdict', async () => {
    const server = await countingServer();
    const client = trustingAStranger(server.url);
    await expect(client.sync()).rejects.toThrow(
      new RegExp(`^the server at ${server.url.origin} is not vouched for by the roots this agent trusts \\(.+\\): is --server the CA that --trust-bundle \\(or the bundle this agent last installed\\) is from\\?$`),
    );
  });

  it('names a CA nobody answers for, and what to check, rather than only the refused connection', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const client = trustingAStranger(new URL(`https://127.0.0.1:${closed}`));
    await expect(client.sync()).rejects.toThrow(`no CA answers at https://127.0.0.1:${closed} (ECONNREFUSED): is it running, and is --server its address?`);
  });

  it('refuses a server whose certificate chain holds a certificate the CA\'s CRLs revoke, also on a connection it had kept open', async () => {
    const server = await countingServer();
    const serial = new X509Certificate(server.certPem).serialNumber.toLowerCase();
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    client.distrust(() => false);
    await client.sync();
    client.distrust((s) => s === serial);
    // Refused although the first connection was kept alive: distrusting drops connections made before.
    await expect(client.sync()).rejects.toThrow(`its certificate chain holds serial ${serial}, which the CA revoked`);
  });

  it('refuses a server that hides a revoked intermediate behind a look-alike sent before it, which Node lists in its place', async () => {
    const root = await MiniCa.create();
    const intermediate = await root.subordinate();
    const keys = await generateKeyPair('ec-p256');
    const svid = await intermediate.issue(await createCsr(keys.privateKey, keys.publicKey), 'spiffe://example.org/meshca/server', 3600, undefined, { ipv4: ['127.0.0.1'] });
    const [leafPem, intermediatePem] = svid.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    const tainted = new X509Certificate(intermediatePem!).serialNumber.toLowerCase();
    const server = createServer({ key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: leafPem! + (await intermediate.lookAlikePem()) + intermediatePem! }, (_req, res) => syncAnswer(res, root.bundlePem));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanupLater(() => new Promise((resolve) => server.close(resolve)));
    server.unref();
    const client = new CaClient({ serverUrl: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`) });
    cleanupLater(() => client.close());
    client.configure(root.bundlePem, undefined);
    client.distrust((s) => s === tainted);
    await expect(client.sync()).rejects.toThrow('are not each signed by the next up to a root of the bundle');
  });

  it('refuses to ask without a trust bundle rather than trust the public roots', async () => {
    const client = new CaClient({ serverUrl: new URL('https://127.0.0.1:1') });
    client.configure('', undefined);
    await expect(client.sync()).rejects.toThrow('no trust bundle to verify the CA with');
  });

  it('gives up on an answer that trickles in past the deadline', async () => {
    const server = await countingServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(drip));
    });
    const client = new CaClient({ serverUrl: server.url, deadlineMs: 400 });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    await expect(client.sync()).rejects.toThrow(/took longer than 0.4 s/);
  });

  it(`gives up on an answer larger than ${MAX_ANSWER_BYTES} bytes`, async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const server = await countingServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const more = () => {
        while (sent <= MAX_ANSWER_BYTES && res.write(chunk)) sent += chunk.length;
        if (sent <= MAX_ANSWER_BYTES) res.once('drain', () => ((sent += chunk.length), more()));
      };
      more();
    });
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    await expect(client.sync()).rejects.toThrow(/is larger than 33554432 bytes/);
  });

  // A CA with a bug, or something in front of it answering 200 with a page of its own: refused saying what is wrong.
  const SVID = { spiffeId: 'spiffe://example.org/ns/web', serial: '01', svid: 'PEM', notBefore: 'x', notAfter: 'y' };
  const ENTRY = { id: 'e1', agent: 'spiffe://example.org/meshca/agent/node-1', spiffeId: 'spiffe://example.org/ns/web', ttl: null, dns: [], revision: 1 };
  it.each<[string, 'sync' | 'renew' | 'workloadSvids', unknown, string]>([
    ['fail/a sync answered with a page that is no JSON', 'sync', '<html>502 Bad Gateway</html>', 'its answer to a sync is not a JSON object'],
    ['fail/a sync answered with null', 'sync', null, 'its answer to a sync is not a JSON object'],
    ['fail/a sync without entries', 'sync', { bundle: 'PEM' }, "its answer to a sync's entries is not a list"],
    ['fail/an entry whose DNS names are not a list', 'sync', { entries: [{ ...ENTRY, dns: 'web.example' }] }, "its entry number 1's DNS names is not a list"],
    ['fail/an entry without a SPIFFE ID', 'sync', { entries: [ENTRY, { ...ENTRY, spiffeId: undefined }] }, "its entry number 2's spiffeId is not text"],
    ['fail/an entry whose revision is not a number', 'sync', { entries: [{ ...ENTRY, revision: '1' }] }, "its entry number 1's revision is not a whole number"],
    ['fail/a renewal without an SVID', 'renew', { bundle: 'PEM' }, 'its SVID is not a JSON object'],
    ['fail/a renewal whose chain is not text', 'renew', { svid: { ...SVID, svid: 7 }, bundle: 'PEM' }, "its SVID's certificate chain is not text"],
    ['fail/SVIDs answered with no SVID', 'workloadSvids', { svids: [], bundle: 'PEM' }, 'it answered 0 SVIDs to a request for 1'],
    ['fail/SVIDs answered with two for one request', 'workloadSvids', { svids: [SVID, SVID], bundle: 'PEM' }, 'it answered 2 SVIDs to a request for 1'],
    ['fail/SVIDs that are not a list', 'workloadSvids', { svids: SVID, bundle: 'PEM' }, 'its SVIDs is not a list'],
  ])('%s', async (_name, call, body, says) => {
    const server = await countingServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    const asked = call === 'sync' ? client.sync() : call === 'renew' ? client.renew('CSR') : client.workloadSvids([{ entryId: 'e1', csr: 'CSR' }]);
    const refusal = await asked.then(() => undefined, (err: unknown) => err);
    expect(refusal).toBeInstanceOf(UntrustedAnswerError);
    expect((refusal as Error).message).toBe(`the CA's answer was not used: ${says}`);
  });

  it('pass/takes a whole answer of each kind as it came', async () => {
    const answers: Record<string, unknown> = {
      '/v1/agent/entries': { entries: [ENTRY], bundle: 'PEM', bundleSequence: 3 },
      '/v1/agent/renew': { svid: SVID, bundle: 'PEM' },
      '/v1/agent/svids': { svids: [{ ...SVID, entryId: 'e1' }], bundle: 'PEM' },
    };
    const server = await countingServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers[(res.req.url ?? '').split('?')[0]!]));
    });
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    expect([await client.sync(), await client.renew('CSR'), await client.workloadSvids([{ entryId: 'e1', csr: 'CSR' }])]).toEqual(Object.values(answers));
  });

  it('keeps at most 500 characters of the CA\'s error message', async () => {
    const server = await countingServer((res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'internal', message: 'x'.repeat(5_000_000) } }));
    });
    const client = new CaClient({ serverUrl: server.url });
    cleanupLater(() => client.close());
    client.configure(server.certPem, undefined);
    await expect(client.sync()).rejects.toMatchObject({ status: 500, code: 'internal', message: 'x'.repeat(500) });
  });
});
