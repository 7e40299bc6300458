/**
 * meshca's SVIDs as Go sees them: Go's crypto/x509 and crypto/tls (the
 * libraries of SPIRE, go-spiffe and most mesh control planes) parse each
 * certificate, build its path to the bundle, apply the X509-SVID leaf rules,
 * and carry mutual TLS between two workloads that authorize each other by
 * SPIFFE ID; a Go HTTPS client talks to the CA itself with an agent SVID.
 * The Go side is test/interop/go/spiffe_peer.go (test/support/go-peer.ts).
 */
import { mkdirSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_TYPES } from '../../src/x509/keys.js';
import { asOperator, attestAgent, mintCredential } from '../support/callers.js';
import { makeForeignCredential } from '../support/foreign-ca.js';
import { buildGoPeer, goPeer } from '../support/go-peer.js';
import { mintSvid, writeCredential } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const SERVER_ID = 'spiffe://example.org/ns/prod/sa/db';
const CLIENT_ID = 'spiffe://example.org/ns/prod/sa/web';

/** A directory laid out as the agent lays out --out: svid.pem (leaf, then intermediate), svid_key.pem, bundle.pem. */
function credentialDir(cred: { keyPem: string; chainPem: string; bundlePem: string }): string {
  const dir = tempDir('go-cred');
  mkdirSync(dir, { recursive: true });
  writeCredential(dir, cred);
  return dir;
}

describe("Go's crypto/x509 and crypto/tls with meshca SVIDs", () => {
  let ca: TestCa;
  beforeAll(async () => {
    buildGoPeer();
    ca = await startTestCa();
  }, 120_000);

  it.each(KEY_TYPES)('pass/%s keys: Go verifies each SVID to the bundle for server and client use, and carries mutual TLS between them', async (keyType) => {
    const db = credentialDir(await mintSvid(ca.localApp, SERVER_ID, { keyType }));
    const web = credentialDir(await mintSvid(ca.localApp, CLIENT_ID, { keyType }));
    expect([await goPeer('verify', db), await goPeer('verify', web)]).toEqual([{ spiffeId: SERVER_ID }, { spiffeId: CLIENT_ID }]);
    expect(await goPeer('mtls', db, web, SERVER_ID, CLIENT_ID)).toEqual({ serverSaw: CLIENT_ID, clientSaw: SERVER_ID, clientRead: 'hello from go\n' });
  });

  it('fail/Go refuses an SVID once it has expired (verified at its notAfter plus a second)', async () => {
    const svid = await mintSvid(ca.localApp, SERVER_ID);
    const after = new Date(Date.parse(svid.answer.svid.notAfter) + 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    expect(await goPeer('verify', credentialDir(svid), '-at', after)).toEqual({ error: expect.stringMatching(/expired or is not yet valid/) });
  });

  it('fail/a Go server refuses a client whose certificate comes from a CA outside the bundle, though it claims the trust domain', async () => {
    const db = credentialDir(await mintSvid(ca.localApp, SERVER_ID));
    const foreign = makeForeignCredential(tempDir('foreign'), CLIENT_ID);
    const impostor = credentialDir({ keyPem: foreign.keyPem, chainPem: foreign.chainPem, bundlePem: ca.bundlePem });
    const outcome = await goPeer('mtls', db, impostor, SERVER_ID, CLIENT_ID);
    expect(outcome).toMatchObject({ serverError: expect.stringMatching(/unknown authority/), clientRead: '' });
    expect(outcome.serverSaw).toBeUndefined();
  });

  it('fail/a Go client refuses a server from another meshca of the same trust domain', async () => {
    const other = await startTestCa();
    const stranger = credentialDir({ ...(await mintSvid(other.localApp, SERVER_ID)), bundlePem: other.bundlePem });
    const web = credentialDir(await mintSvid(ca.localApp, CLIENT_ID));
    const outcome = await goPeer('mtls', stranger, web, SERVER_ID, CLIENT_ID);
    expect(outcome).toMatchObject({ clientError: expect.stringMatching(/unknown authority/) });
    expect(outcome.clientSaw).toBeUndefined();
  });

  it('fail/a Go client refuses a server of the trust domain whose SPIFFE ID is not the one it expects', async () => {
    const impostor = credentialDir(await mintSvid(ca.localApp, 'spiffe://example.org/ns/prod/sa/not-db'));
    const web = credentialDir(await mintSvid(ca.localApp, CLIENT_ID));
    const outcome = await goPeer('mtls', impostor, web, SERVER_ID, CLIENT_ID);
    expect(outcome).toMatchObject({ clientError: expect.stringContaining(`peer is spiffe://example.org/ns/prod/sa/not-db, expected ${SERVER_ID}`) });
  });

  it("pass/a Go HTTPS client verifies the CA's serving certificate by its IP address and reads its entries with an agent SVID", async () => {
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'go-node', spiffeId: SERVER_ID });
    const agent = credentialDir({ ...(await attestAgent(ca, 'go-node')), bundlePem: ca.bundlePem });
    const answer = await goPeer('get', ca.url, agent, '/v1/agent/entries');
    expect(answer).toMatchObject({ status: 200 });
    expect(JSON.parse(answer.body as string)).toMatchObject({ entries: [expect.objectContaining({ spiffeId: SERVER_ID })] });
  });

  it('fail/the CA refuses a Go client holding a workload SVID on an agent route (a workload is not an agent)', async () => {
    const workload = credentialDir({ ...(await mintCredential(ca, CLIENT_ID)), bundlePem: ca.bundlePem });
    const answer = await goPeer('get', ca.url, workload, '/v1/agent/entries');
    expect({ status: answer.status, body: JSON.parse(answer.body as string) }).toEqual({ status: 403, body: { error: { code: 'forbidden', message: "a caller with role workload may not agent sync: it takes an agent's credential" } } });
  });
});
