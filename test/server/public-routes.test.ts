/**
 * The mutual-TLS listener over real HTTPS, trusting only the CA's bundle: what
 * an anonymous client may read, and how the mint route answers callers that
 * present no certificate, a workload SVID, or a certificate from another CA.
 */
import { createPublicKey, X509Certificate, type JsonWebKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeForeignCredential } from '../support/foreign-ca.js';
import { callHttps, type HttpAnswer } from '../support/http-client.js';
import { mintSvid, newCsr, parseChain } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

// Nothing here changes the CA's state, so one CA serves every test.
let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa({ 'bundle-refresh-hint': '2m' });
});

const get = (path: string) => callHttps(ca.url, { path, ca: ca.bundlePem });

function errorOf(res: HttpAnswer): unknown {
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(res.body) as unknown;
}

describe('anonymous HTTPS', () => {
  it('pass/health and readiness', async () => {
    const health = await get('/healthz');
    expect([health.status, JSON.parse(health.body)]).toEqual([200, { status: 'ok' }]);
    const ready = await get('/readyz');
    expect([ready.status, JSON.parse(ready.body)]).toEqual([200, { status: 'ready' }]);
  });

  it('fail/readiness is 503 store_unavailable once the datastore does not answer (health stays 200)', async () => {
    const cut = await startTestCa();
    cut.store.db.close();
    const call = (path: string) => callHttps(cut.url, { path, ca: cut.bundlePem });
    const ready = await call('/readyz');
    expect([ready.status, errorOf(ready)]).toEqual([503, { error: { code: 'store_unavailable', message: 'the datastore does not answer: nothing can be issued here' } }]);
    expect((await call('/healthz')).status).toBe(200);
  });

  it('pass/the server presents its own SVID, verified against the bundle', async () => {
    const res = await get('/healthz');
    expect(res.peer?.subjectAltName?.split(', ')).toContain('URI:spiffe://example.org/meshca/server');
    expect(res.peer?.subjectAltName?.split(', ')).toContain('IP Address:127.0.0.1');
  });

  it('pass/GET /v1/bundle is a SPIFFE bundle whose x5c roots are bundle.pem', async () => {
    const res = await get('/v1/bundle');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const bundle = JSON.parse(res.body) as { keys: Array<Record<string, unknown>>; spiffe_sequence: number; spiffe_refresh_hint: number };
    expect(bundle.spiffe_sequence).toBe(1);
    expect(bundle.spiffe_refresh_hint).toBe(120);

    const pemRoots = parseChain(ca.bundlePem);
    expect(bundle.keys).toHaveLength(pemRoots.length);
    expect(pemRoots.length).toBeGreaterThanOrEqual(1);
    bundle.keys.forEach((key, i) => {
      expect(key.use).toBe('x509-svid');
      expect(key).not.toHaveProperty('d');
      expect(key.x5c).toEqual([expect.any(String)]);
      const root = new X509Certificate(Buffer.from((key.x5c as string[])[0]!, 'base64'));
      expect(root.raw.equals(pemRoots[i]!.raw)).toBe(true);
      // The JWK is the root's public key.
      const { use: _use, x5c: _x5c, ...jwk } = key;
      expect(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).equals(root.publicKey)).toBe(true);
    });
  });

  it('pass/GET /v1/bundle.pem holds self-signed CA roots', async () => {
    const res = await get('/v1/bundle.pem');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-pem-file/);
    expect(res.body).toBe(ca.bundlePem);
    const roots = parseChain(res.body);
    expect(res.body.match(/-----BEGIN /g)).toHaveLength(roots.length);
    for (const root of roots) {
      expect(root.ca).toBe(true);
      expect(root.checkIssued(root)).toBe(true);
      expect(root.verify(root.publicKey)).toBe(true);
    }
  });
});

describe('POST /v1/svids/mint over HTTPS', () => {
  it('fail/no client certificate → 401 unauthenticated', async () => {
    const { csr } = await newCsr();
    const res = await callHttps(ca.url, { method: 'POST', path: '/v1/svids/mint', ca: ca.bundlePem, json: { spiffeId: 'spiffe://example.org/x', csr } });
    expect(res.status).toBe(401);
    expect(errorOf(res)).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
  });

  it('fail/a workload SVID of this CA → 403 forbidden, while public routes still answer', async () => {
    const workload = await mintSvid(ca.localApp, 'spiffe://example.org/ns/prod/sa/web');
    const { csr } = await newCsr();
    const client = { ca: ca.bundlePem, cert: workload.chainPem, key: workload.keyPem };
    const res = await callHttps(ca.url, { ...client, method: 'POST', path: '/v1/svids/mint', json: { spiffeId: 'spiffe://example.org/x', csr } });
    expect(res.status).toBe(403);
    expect(errorOf(res)).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    expect((await callHttps(ca.url, { ...client, path: '/v1/bundle.pem' })).status).toBe(200);
  });

  it.each([
    {
      name: 'fail/a certificate from a foreign CA (openssl) claiming this trust domain',
      client: async () => {
        const foreign = makeForeignCredential(tempDir(), 'spiffe://example.org/impostor');
        return { cert: foreign.chainPem, key: foreign.keyPem };
      },
    },
    {
      name: 'fail/an SVID from another meshca for the same trust domain',
      client: async () => {
        const other = await startTestCa();
        const svid = await mintSvid(other.localApp, 'spiffe://example.org/impostor');
        return { cert: svid.chainPem, key: svid.keyPem };
      },
    },
    {
      name: 'fail/an SVID from a meshca of another trust domain',
      client: async () => {
        const other = await startTestCa({ 'trust-domain': 'other.org' });
        const svid = await mintSvid(other.localApp, 'spiffe://other.org/web');
        return { cert: svid.chainPem, key: svid.keyPem };
      },
    },
  ])('$name → 401 certificate_untrusted', async ({ client }) => {
    const { csr } = await newCsr();
    const res = await callHttps(ca.url, {
      ...(await client()),
      ca: ca.bundlePem,
      method: 'POST',
      path: '/v1/svids/mint',
      json: { spiffeId: 'spiffe://example.org/x', csr },
    });
    expect(res.status).toBe(401);
    expect(errorOf(res)).toEqual({ error: { code: 'certificate_untrusted', message: expect.any(String) } });
    expect(ca.store.db.prepare("SELECT count(*) AS n FROM certificates WHERE spiffe_id = 'spiffe://example.org/x'").get()).toEqual({ n: 0 });
  });
});

describe('every answer', () => {
  it.each([
    { name: 'unknown GET route', method: 'GET', path: '/v1/nothing', status: 404, code: 'not_found' },
    { name: 'unknown POST route', method: 'POST', path: '/v1/svids/forge', status: 404, code: 'not_found' },
    { name: 'route with a query string', method: 'GET', path: '/v2/bundle?x=1', status: 404, code: 'not_found' },
  ])('fail/$name → 404 JSON error', async ({ method, path, status, code }) => {
    const res = await callHttps(ca.url, { method, path, ca: ca.bundlePem, ...(method === 'POST' ? { json: {} } : {}) });
    expect(res.status).toBe(status);
    expect(errorOf(res)).toEqual({ error: { code, message: `no route ${method} ${path.split('?')[0]}` } });
  });

  it('fail/an unknown path of 10,000 characters -> 404 quoting its first 200 and its length, not the whole path', async () => {
    const path = `/${'x'.repeat(9_999)}`;
    const res = await callHttps(ca.url, { method: 'GET', path, ca: ca.bundlePem });
    expect(res.status).toBe(404);
    expect(errorOf(res)).toEqual({ error: { code: 'not_found', message: `no route GET ${path.slice(0, 200)}… (10000 characters)` } });
  });

  it.each([
    { name: 'a GET-only route', method: 'POST', path: '/v1/bundle', allow: 'GET, HEAD' },
    { name: 'a route with a path parameter', method: 'PUT', path: '/v1/entries/abc', allow: 'DELETE, GET, HEAD, PATCH' },
    { name: 'a POST-only route', method: 'GET', path: '/v1/svids/mint?x=1', allow: 'POST' },
  ])('fail/a known path with a method it does not take ($name) → 405 naming the methods it takes, in Allow too', async ({ method, path, allow }) => {
    const res = await callHttps(ca.url, { method, path, ca: ca.bundlePem, ...(method === 'GET' ? {} : { json: {} }) });
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe(allow);
    const bare = path.split('?')[0];
    expect(errorOf(res)).toEqual({ error: { code: 'method_not_allowed', message: `${bare} does not take ${method}; it takes ${allow}` } });
  });

  it.each([
    { name: 'a public route', method: 'GET', path: '/v1/bundle', status: 200 },
    { name: 'a refusal', method: 'POST', path: '/v1/svids/mint', status: 401 },
    { name: 'a missing route', method: 'GET', path: '/nope', status: 404 },
  ])('pass/carries helmet security headers: $name', async ({ method, path, status }) => {
    const res = await callHttps(ca.url, { method, path, ca: ca.bundlePem, ...(method === 'POST' ? { json: {} } : {}) });
    expect(res.status).toBe(status);
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'strict-transport-security': expect.stringMatching(/max-age=\d+/),
      'content-security-policy': expect.stringContaining("default-src 'self'"),
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'x-dns-prefetch-control': 'off',
    });
    expect(res.headers).not.toHaveProperty('x-powered-by');
  });
});
