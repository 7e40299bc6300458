/**
 * Requests that are wrong before any handler could judge them — a URL that
 * does not decode, bytes that are not HTTP, input a route does not declare, a
 * request reaching a server that is shutting down — still get meshca's error
 * shape, `{"error": {"code", "message"}}`, and change nothing.
 */
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminCredential, asOperator, attestAgent, callCa, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';
import { eventRows } from '../support/audit-log.js';
import { sleep, waitFor } from '../support/wait.js';

let ca: TestCa;
let operator: Credential;
beforeAll(async () => {
  ca = await startTestCa();
  operator = await adminCredential(ca, 'operator', 'alice');
});

/** Raw bytes over mutual TLS as the operator; resolves with everything the server wrote before closing. */
function rawExchange(bytes: string): Promise<string> {
  return exchangeOffering(bytes, undefined).then(({ answer }) => answer);
}

/** rawExchange offering these ALPN protocols; also resolves with the one the handshake settled on. */
function exchangeOffering(bytes: string, alpn: string[] | undefined): Promise<{ alpnProtocol: string | false | null; answer: string }> {
  const url = new URL(ca.url);
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: url.hostname,
      port: Number(url.port),
      ca: ca.bundlePem,
      key: operator.keyPem,
      cert: operator.chainPem,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    let answer = '';
    let alpnProtocol: string | false | null = null;
    socket.on('secureConnect', () => {
      alpnProtocol = socket.alpnProtocol;
      socket.write(bytes);
    });
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve({ alpnProtocol, answer }));
  });
}

/** Status line and parsed JSON body of a raw HTTP/1.1 answer. */
function parsed(answer: string): { status: string; body: unknown } {
  const [head, body] = answer.split('\r\n\r\n');
  return { status: head!.split('\r\n')[0]!, body: JSON.parse(body!) as unknown };
}

describe('URLs and bytes Fastify refuses before routing', () => {
  it.each([
    ['a path parameter that is not valid percent-encoding', '/v1/entries/%ZZ'],
    ['a path parameter longer than any id', `/v1/entries/${'x'.repeat(101)}`],
  ])('fail/%s -> 400 invalid_request', async (_name, path) => {
    const res = await callCa(ca, operator, 'GET', path);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'invalid_request', message: expect.any(String) } });
  });

  it('fail/a refused URL is quoted clipped, not whole, in the message', async () => {
    const res = await callCa(ca, operator, 'GET', `/v1/entries/${'x'.repeat(5_000)}`);
    expect(res.status).toBe(400);
    expect(res.body.error.message.length).toBeLessThan(300);
  });

  it.each([
    { name: 'a request line that is not HTTP', bytes: 'HELLO\r\n\r\n', status: 'HTTP/1.1 400 Bad Request', code: 'invalid_request' },
    { name: 'a body shorter than its Content-Length', bytes: 'POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nab', status: 'HTTP/1.1 400 Bad Request', code: 'invalid_request' },
    { name: 'an HTTP/1.1 request without Host', bytes: 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', status: 'HTTP/1.1 400 Bad Request', code: 'invalid_request' },
    { name: 'two Host headers', bytes: 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', status: 'HTTP/1.1 400 Bad Request', code: 'invalid_request' },
    { name: 'two Host headers on HTTP/1.0', bytes: 'GET /healthz HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n', status: 'HTTP/1.1 400 Bad Request', code: 'invalid_request' },
    { name: 'a request line naming HTTP/2.0', bytes: 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n', status: 'HTTP/1.1 505 HTTP Version Not Supported', code: 'http_version_not_supported' },
    { name: 'a request line without a version (HTTP/0.9)', bytes: 'GET /healthz\r\n\r\n', status: 'HTTP/1.1 505 HTTP Version Not Supported', code: 'http_version_not_supported' },
    { name: 'headers larger than the server reads', bytes: `GET /v1/entries HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 'HTTP/1.1 431 Request Header Fields Too Large', code: 'invalid_request' },
    { name: 'a CONNECT (meshca is no proxy)', bytes: 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n', status: 'HTTP/1.1 405 Method Not Allowed', code: 'method_not_allowed' },
    { name: 'an Expect other than 100-continue', bytes: 'GET /v1/agents HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n', status: 'HTTP/1.1 417 Expectation Failed', code: 'expectation_failed' },
  ])('fail/$name -> $status in the JSON error shape, then the connection closes', async ({ bytes, status, code }) => {
    expect(parsed(await rawExchange(bytes))).toEqual({ status, body: { error: { code, message: expect.any(String) } } });
  });
});

describe('bytes that are not HTTP, sent after a request the CA is still answering', () => {
  /** A token request, then — once it has arrived, while the CA is still making the token — bytes that are not a request. */
  function pipelined(agent: string): Promise<string> {
    const url = new URL(ca.url);
    const body = `{"agent":"${agent}"}`;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), ca: ca.bundlePem, key: operator.keyPem, cert: operator.chainPem });
      let answer = '';
      socket.on('secureConnect', () => {
        socket.write(`POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        setTimeout(() => socket.write('NOT HTTP\r\n\r\n'), 50);
      });
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(answer));
    });
  }

  it('fail/the request is answered first (201, its token), then the bytes (400), and the connection closes', async () => {
    const tokens = ca.core.services.tokens;
    const create = tokens.create.bind(tokens);
    // A token that takes 300 ms to make: the bytes arrive while it is being made.
    const slow = vi.spyOn(tokens, 'create').mockImplementation(async (...args) => {
      await sleep(300);
      return create(...args);
    });
    try {
      const answer = await pipelined('pipelined-1');
      // An answer's body ends without a line break: the next status line follows on the same line.
      const statuses = answer.match(/HTTP\/1\.1 \d{3} [^\r]*/g);
      expect(statuses).toEqual(['HTTP/1.1 201 Created', 'HTTP/1.1 400 Bad Request']);
      expect(answer).toContain('"agent":"pipelined-1"');
      expect(answer).toMatch(/\{"error":\{"code":"invalid_request","message":"the request is not valid HTTP\/1\.1"\}\}$/);
    } finally {
      slow.mockRestore();
    }
  });
});

describe('Expect: 100-continue', () => {
  /** A POST asking to continue, its body sent at once after the headers, and the connection closed after the answer. */
  const asking = (path: string, body: string, declared = Buffer.byteLength(body)) =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\nConnection: close\r\n\r\n${body}`;
  /** The status lines of everything answered, in order. */
  const statusLines = (answer: string) => answer.split('\r\n').filter((line) => line.startsWith('HTTP/1.1 '));

  it('fail/a declared length over the route\'s limit -> 413 at once, in the JSON error shape, the body never asked for', async () => {
    const answer = await rawExchange(asking('/v1/entries', '', 100_000));
    expect(statusLines(answer)).toEqual(['HTTP/1.1 413 Payload Too Large']);
    expect(parsed(answer).body).toEqual({ error: { code: 'payload_too_large', message: expect.any(String) } });
  });

  it.each([
    ['a small body', '/v1/entries', '{}', 'HTTP/1.1 400 Bad Request'],
    // Over the 64 KiB most routes take, within the 320 KiB an audit verification's trust bundle may have: asked for, then judged.
    ['a body within the larger limit of the audit verification route', '/v1/audit/verify', `{"expectHead":1${' '.repeat(70_000)}}`, 'HTTP/1.1 400 Bad Request'],
  ])('pass/%s, from a caller the route admits -> 100 Continue, then the answer to the request', async (_name, path, body, status) => {
    expect(statusLines(await rawExchange(asking(path, body)))).toEqual(['HTTP/1.1 100 Continue', status]);
  });
});

describe('a header that says how to read the request, sent twice', () => {
  /** A token request the CA would otherwise accept (201), its body framed by Content-Length or chunked. */
  const tokenRequest = (agent: string, headerLines: string, framing: 'length' | 'chunked' = 'length') => {
    const body = `{"agent":"${agent}"}`;
    const size = Buffer.byteLength(body);
    return framing === 'length'
      ? `POST /v1/tokens HTTP/1.1\r\nHost: x\r\n${headerLines}Content-Length: ${size}\r\nConnection: close\r\n\r\n${body}`
      : `POST /v1/tokens HTTP/1.1\r\nHost: x\r\n${headerLines}Connection: close\r\n\r\n${size.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  };
  const joinTokens = () => ca.store.db.prepare('SELECT count(*) AS n FROM join_tokens').get();

  it.each([
    {
      name: 'two Content-Types that differ',
      header: 'Content-Type',
      bytes: tokenRequest('dup-ct', 'Content-Type: application/json\r\nContent-Type: text/plain\r\n'),
    },
    {
      name: 'two Content-Types that agree, their names in other cases',
      header: 'Content-Type',
      bytes: tokenRequest('dup-ct-same', 'content-type: application/json\r\nCONTENT-TYPE: application/json\r\n'),
    },
    {
      name: 'two Transfer-Encodings, the last chunked',
      header: 'Transfer-Encoding',
      bytes: tokenRequest('dup-te', 'Content-Type: application/json\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n', 'chunked'),
    },
  ])('fail/$name -> 400 invalid_request naming the header, no token, then the connection closes', async ({ bytes, header }) => {
    const before = joinTokens();
    expect(parsed(await rawExchange(bytes))).toEqual({
      status: 'HTTP/1.1 400 Bad Request',
      body: { error: { code: 'invalid_request', message: `a request has at most one ${header} header` } },
    });
    expect(joinTokens()).toEqual(before);
  });
});

describe('a request with no Host, or two, to a route that signs', () => {
  // These are refused before anyone is authenticated; the refusal is still answered in meshca's shape and audited.
  const SIGNING_ROUTES = ['/v1/agent/attest', '/v1/agent/renew', '/v1/agent/svids', '/v1/svids/mint', '/v1/admin/credentials', '/v1/admin/credentials/renew'];
  const HOST_LINES = [
    ['no Host', '', 'an HTTP/1.1 request needs a Host header'],
    ['two Hosts', 'Host: a\r\nHost: b\r\n', 'a request has at most one Host header'],
  ] as const;
  const refusedIssuances = () => eventRows(ca.store.db).filter((e) => e.type === 'issuance.refused').length;

  it.each(SIGNING_ROUTES.flatMap((route) => HOST_LINES.map(([name, lines, message]) => ({ route, name, lines, message }))))(
    'fail/POST $route with $name -> 400 invalid_request, and the refused issuance is audited',
    async ({ route, lines, message }) => {
      const before = refusedIssuances();
      const answer = await rawExchange(`POST ${route} HTTP/1.1\r\n${lines}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
      expect(parsed(answer)).toEqual({ status: 'HTTP/1.1 400 Bad Request', body: { error: { code: 'invalid_request', message } } });
      await waitFor('the refusal audited', () => refusedIssuances() > before, 5_000, 10);
    },
  );
});

describe('a transfer coding other than chunked', () => {
  /** A token request the CA would otherwise accept (201), its body in one chunk under the Transfer-Encoding given. */
  const chunkedTokenRequest = (agent: string, coding: string) => {
    const body = `{"agent":"${agent}"}`;
    return `POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  };
  const joinTokens = () => ca.store.db.prepare('SELECT count(*) AS n FROM join_tokens').get();

  it.each(['gzip, chunked', 'foo, chunked', 'identity, chunked'])('fail/Transfer-Encoding: %s -> 501 not_implemented, no token, then the connection closes', async (coding) => {
    const before = joinTokens();
    expect(parsed(await rawExchange(chunkedTokenRequest('te-coding', coding)))).toEqual({
      status: 'HTTP/1.1 501 Not Implemented',
      body: { error: { code: 'not_implemented', message: expect.stringContaining(`Transfer-Encoding "${coding}" is not served`) } },
    });
    expect(joinTokens()).toEqual(before);
  });

  it.each(['chunked', 'Chunked'])('pass/Transfer-Encoding: %s -> 201, a token made', async (coding) => {
    expect(parsed(await rawExchange(chunkedTokenRequest('te-chunked', coding))).status).toBe('HTTP/1.1 201 Created');
  });

  // HTTP/1.0 has no transfer codings: a proxy would read the body to the connection's end, the CA as chunks.
  it.each(['chunked', 'gzip, chunked'])('fail/HTTP/1.0 with Transfer-Encoding: %s -> 400 invalid_request, no token, then the connection closes', async (coding) => {
    const before = joinTokens();
    const answer = await rawExchange(chunkedTokenRequest('te-http10', coding).replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n'));
    expect(parsed(answer)).toEqual({
      status: 'HTTP/1.1 400 Bad Request',
      body: { error: { code: 'invalid_request', message: expect.stringContaining('an HTTP/1.0 request has no Transfer-Encoding') } },
    });
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(joinTokens()).toEqual(before);
  });

  it('pass/HTTP/1.0 with a Content-Length -> 201, a token made', async () => {
    const body = '{"agent":"cl-http10"}';
    const answer = await rawExchange(`POST /v1/tokens HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(parsed(answer).status).toBe('HTTP/1.1 201 Created');
  });
});

describe('the request line and Host that are served', () => {
  it.each([
    ['HTTP/1.1 with one Host', 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['HTTP/1.0 without Host', 'GET /healthz HTTP/1.0\r\n\r\n'],
  ])('pass/%s -> 200', async (_name, bytes) => {
    expect((await rawExchange(bytes)).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });
});

// Over HTTP/1.0 an answer without a length ends when the connection closes: an export cut short would look whole.
describe('the audit export, which streams', () => {
  it('fail/over HTTP/1.0 -> 505 http_version_not_supported, nothing exported', async () => {
    const answer = parsed(await rawExchange('GET /v1/audit/events HTTP/1.0\r\n\r\n'));
    expect(answer).toEqual({
      status: 'HTTP/1.1 505 HTTP Version Not Supported',
      body: { error: { code: 'http_version_not_supported', message: expect.stringContaining('send HTTP/1.1') } },
    });
  });

  it('pass/over HTTP/1.1 -> 200, chunked, so that one cut short is seen to be', async () => {
    const answer = await rawExchange('GET /v1/audit/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(answer).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
  });
});

describe('the ALPN protocols of the HTTP versions that are served', () => {
  it.each([
    { offered: ['http/1.0'] },
    { offered: ['h2', 'http/1.0'] },
  ])('pass/a client offering $offered agrees on http/1.0, and GET /healthz -> 200', async ({ offered }) => {
    const { alpnProtocol, answer } = await exchangeOffering('GET /healthz HTTP/1.0\r\n\r\n', offered);
    expect({ alpnProtocol, status: answer.split('\r\n')[0] }).toEqual({ alpnProtocol: 'http/1.0', status: 'HTTP/1.1 200 OK' });
  });
});

describe('the operator socket', () => {
  it('fail/an HTTP/1.1 request without Host -> 400 in the JSON error shape, as on the TLS listener', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connectTcp({ path: join(ca.config.dataDir, 'meshca.sock') }, () => socket.write('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(parsed(answer)).toEqual({ status: 'HTTP/1.1 400 Bad Request', body: { error: { code: 'invalid_request', message: 'an HTTP/1.1 request needs a Host header' } } });
  });
});

describe('input a route does not declare is refused, not ignored', () => {
  it.each([
    ['/v1/agents?status=active'],
    ['/v1/identities?spiffeId=spiffe://example.org/web'],
    ['/v1/authorities?kind=root'],
    ['/v1/crl.pem?fresh=1'],
    ['/v1/bundle?format=pem'],
    ['/healthz?verbose=1'],
  ])('fail/GET %s -> 400 invalid_request', async (path) => {
    const res = await callCa(ca, operator, 'GET', path);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'invalid_request', message: expect.stringContaining('querystring') } });
  });

  it('fail/a ban with a reason the route does not take -> 400, and the agent is not banned', async () => {
    await attestAgent(ca, 'node-ban');
    const res = await callCa(ca, operator, 'POST', '/v1/agents/node-ban/ban', { reason: 'compromised', until: 'never' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'invalid_request', message: 'POST /v1/agents/:name/ban takes no request body' } });
    const { agents } = (await asOperator(ca, 'GET', '/v1/agents')) as { agents: Array<{ name: string; status: string }> };
    expect(agents.find((a) => a.name === 'node-ban')?.status).toBe('active');
  });

  it('fail/a checkpoint request with a body -> 400, and no checkpoint is signed', async () => {
    const before = ca.store.db.prepare('SELECT count(*) AS n FROM audit_checkpoints').get();
    const res = await callCa(ca, operator, 'POST', '/v1/audit/checkpoints', { anything: [1, 2, 3] });
    expect(res.status).toBe(400);
    expect(ca.store.db.prepare('SELECT count(*) AS n FROM audit_checkpoints').get()).toEqual(before);
  });

  it('pass/no body, or an empty JSON object, is what a body-less route takes', async () => {
    await attestAgent(ca, 'node-evict');
    expect((await callCa(ca, operator, 'POST', '/v1/agents/node-evict/evict', {})).status).toBe(200);
    expect((await callCa(ca, operator, 'POST', '/v1/agents/node-evict/ban')).status).toBe(200);
  });
});

describe('input that is there but was not parsed, or not JSON', () => {
  /** A request written by hand, so that its headers are exactly these; the connection closes after the answer. */
  const handWritten = (method: string, path: string, headers: Record<string, string>, body: string) =>
    rawExchange(
      `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + `\r\n${body}`,
    );

  it('fail/a GET with a body (which Fastify leaves unread) -> 400, not an answer that ignored the filter', async () => {
    const answer = parsed(await handWritten('GET', '/v1/entries', { 'Content-Type': 'application/json' }, '{"agent":"node-1"}'));
    expect(answer).toEqual({ status: 'HTTP/1.1 400 Bad Request', body: { error: { code: 'invalid_request', message: 'GET /v1/entries takes no request body' } } });
  });

  it('pass/a GET with an empty body is a GET', async () => {
    expect(parsed(await handWritten('GET', '/v1/entries', {}, '')).status).toBe('HTTP/1.1 200 OK');
  });

  it.each([
    ['a key named twice in one object', { 'Content-Type': 'application/json' }, '{"agent":"node-a","agent":"node-b"}',
      'HTTP/1.1 400 Bad Request', 'request body names the key "agent" twice in one object'],
    ['a body nesting 17 arrays (refused before it is parsed)', { 'Content-Type': 'application/json' }, `{"agent":"node-deep","ttl":${'['.repeat(16)}${']'.repeat(16)}}`,
      'HTTP/1.1 400 Bad Request', 'request body nests objects and arrays more than 16 deep'],
    ['a __proto__ key (valid JSON, refused on purpose)', { 'Content-Type': 'application/json' }, '{"agent":"node-proto","__proto__":{"x":1}}',
      'HTTP/1.1 400 Bad Request', 'request body names __proto__ or constructor.prototype, which no request takes'],
    ['a constructor.prototype key', { 'Content-Type': 'application/json' }, '{"agent":"node-proto","constructor":{"prototype":{}}}',
      'HTTP/1.1 400 Bad Request', 'request body names __proto__ or constructor.prototype, which no request takes'],
    ['a text/plain body', { 'Content-Type': 'text/plain' }, '{"agent":"node-plain"}',
      'HTTP/1.1 415 Unsupported Media Type', 'send the request body as application/json'],
    ['a body said to be gzip (read as plain JSON before)', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, '{"agent":"node-gzip"}',
      'HTTP/1.1 415 Unsupported Media Type', 'Content-Encoding "gzip" is not read; send the JSON body unencoded'],
  ])('fail/%s, and no token is created', async (_name, headers, body, status, message) => {
    const before = ca.store.db.prepare('SELECT count(*) AS n FROM join_tokens').get();
    const answer = parsed(await handWritten('POST', '/v1/tokens', headers, body));
    expect(answer).toEqual({ status, body: { error: { code: 'invalid_request', message } } });
    expect(ca.store.db.prepare('SELECT count(*) AS n FROM join_tokens').get()).toEqual(before);
  });

  it('pass/an empty body sent as application/json is no body, for a route that takes none', async () => {
    expect(parsed(await handWritten('POST', '/v1/audit/checkpoints', { 'Content-Type': 'application/json' }, '')).status).toBe('HTTP/1.1 201 Created');
  });
});

describe('refusals name what was wrong', () => {
  it.each([
    ['a body field the route does not take', 'POST', '/v1/tokens', { agent: 'node-x', bogusField: 1 }, 'request body must NOT have additional properties: "bogusField"'],
    ['a query parameter the route does not take', 'GET', '/v1/certificates?status=banned', undefined, 'request querystring must NOT have additional properties: "status"'],
  ])('fail/%s -> 400 naming it', async (_name, method, path, body, message) => {
    const res = await callCa(ca, operator, method, path, body);
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', message } } });
  });

  it.each([['rootHorizon'], ['intermediateHorizon']])('fail/a %s that is no duration -> 400 naming the parameter, with no JSON advice for a query string', async (name) => {
    const res = await callCa(ca, operator, 'GET', `/v1/doctor?${name}=30`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'invalid_ttl', message: expect.stringMatching(new RegExp(`^${name}: "30" is not a duration`)) } });
    expect(JSON.stringify(res.body)).not.toMatch(/JSON integer|ttl:/);
  });

  it('fail/revoking by a SPIFFE ID of another trust domain -> 400 foreign_trust_domain, not "revoked 0"', async () => {
    const res = await callCa(ca, operator, 'POST', '/v1/certificates/revoke', { spiffeId: 'spiffe://other.org/a' });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'foreign_trust_domain' } } });
  });

  it.each([
    ['both empty', { importCertFile: '', importKeyFile: '' }],
    ['an empty key path', { importCertFile: '/etc/hosts', importKeyFile: '' }],
  ])('fail/preparing a root with import paths %s -> 400, and no root is generated instead', async (_name, body) => {
    const before = await asOperator(ca, 'GET', '/v1/authorities');
    const res = await callCa(ca, operator, 'POST', '/v1/authorities/root/prepare', body);
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    expect(await asOperator(ca, 'GET', '/v1/authorities')).toEqual(before);
  });
});

describe('names as long as a name may be', () => {
  it('pass/an agent named with 128 characters can be evicted and banned through its path', async () => {
    const name = 'n'.repeat(128);
    await attestAgent(ca, name);
    expect((await callCa(ca, operator, 'POST', `/v1/agents/${name}/evict`)).status).toBe(200);
    expect((await callCa(ca, operator, 'POST', `/v1/agents/${name}/ban`)).status).toBe(200);
  });

  it('fail/a name of 129 characters -> 400', async () => {
    const res = await callCa(ca, operator, 'POST', `/v1/agents/${'n'.repeat(129)}/ban`);
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
  });
});

describe('a request that arrives too slowly', () => {
  it('fail/a body trickling in past --request-timeout -> 408 request_timeout, and the connection is closed', async () => {
    const slow = await startTestCa({ 'request-timeout': '1s' });
    const url = new URL(slow.url);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      // No client certificate: anyone who can connect could try this.
      const socket = connect({ host: url.hostname, port: Number(url.port), ca: slow.bundlePem });
      let text = '';
      socket.on('secureConnect', () => socket.write('POST /v1/agent/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t'));
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(parsed(answer)).toEqual({ status: 'HTTP/1.1 408 Request Timeout', body: { error: { code: 'request_timeout', message: expect.any(String) } } });
    // The timeout, plus Node's once-a-second check for requests past it.
    expect(Date.now() - started).toBeLessThan(5_000);
    await slow.close();
  });
});

describe('connections anyone can open', () => {
  /** Resolves with how the connection ended: 'secure' once TLS is up (then ended by us), or 'closed' by the server before that. */
  function tlsOutcome(target: TestCa, keepOpen: TLSSocket[] = []): Promise<'secure' | 'closed'> {
    const url = new URL(target.url);
    return new Promise((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), ca: target.bundlePem });
      socket.on('secureConnect', () => {
        keepOpen.push(socket);
        resolve('secure');
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve('closed'));
    });
  }

  it('fail/a TLS handshake that never starts is closed after --request-timeout, not held for Node\'s two minutes', async () => {
    const slow = await startTestCa({ 'request-timeout': '1s' });
    const url = new URL(slow.url);
    const started = Date.now();
    const ended = await new Promise<string>((resolve) => {
      const socket = connectTcp(Number(url.port), url.hostname);
      socket.on('error', () => undefined);
      socket.on('close', () => resolve('closed by the CA'));
      setTimeout(() => {
        socket.destroy();
        resolve('still open after 6 s');
      }, 6_000);
    });
    expect(ended).toBe('closed by the CA');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await slow.close();
  });

  it('fail/connections beyond --max-connections are closed as they arrive and counted; one freed is usable again', async () => {
    const capped = await startTestCa({ 'max-connections': '2' });
    const open: TLSSocket[] = [];
    expect([await tlsOutcome(capped, open), await tlsOutcome(capped, open)]).toEqual(['secure', 'secure']);
    expect(await tlsOutcome(capped, open)).toBe('closed');
    const metrics = await capped.localApp.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^meshca_connections_dropped_total 1$/m);
    // The local socket is another listener: the operator is never locked out by the cap.
    expect((await capped.localApp.inject({ method: 'GET', url: '/v1/entries' })).statusCode).toBe(200);

    await new Promise<void>((resolve) => {
      open.pop()!.once('close', () => resolve()).end();
    });
    await sleep(100);
    expect(await tlsOutcome(capped, open)).toBe('secure');
    for (const socket of open) socket.destroy();
    await capped.close();
  });
});

describe('a value outside a schema\'s list', () => {
  it('fail/an unknown revocation reason -> 400 naming the reasons there are', async () => {
    const res = await callCa(ca, operator, 'POST', '/v1/certificates/revoke', { serial: '01', reason: 'badreason' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: { code: 'invalid_request', message: expect.stringMatching(/^request body\/reason must be one of: .*keyCompromise/) },
    });
  });
});

describe('audit verification with an unreadable pin', () => {
  it('fail/a PEM block that holds no certificate -> 400 with meshca\'s words, not OpenSSL\'s', async () => {
    const res = await callCa(ca, operator, 'POST', '/v1/audit/verify', { trustBundle: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'invalid_request', message: expect.stringMatching(/^trustBundle holds a certificate that cannot be read/) } });
    expect(JSON.stringify(res.body)).not.toMatch(/error:[0-9A-F]{8}|routines/);
  });
});

describe('a server that is shutting down', () => {
  let closing: TestCa;
  afterAll(async () => {
    await closing?.close();
  });

  it('fail/a request that arrives while the server closes -> 503 ca_unavailable, with helmet headers', async () => {
    closing = await startTestCa();
    const credential = await adminCredential(closing, 'operator', 'bob');
    const url = new URL(closing.url);
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: closing.bundlePem, key: credential.keyPem, cert: credential.chainPem });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const ended = new Promise((resolve, reject) => {
      socket.on('close', resolve);
      socket.on('error', reject);
    });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    // Half a request keeps the connection busy, so that close() waits for it instead of cutting it as idle.
    socket.write(`GET /v1/agents HTTP/1.1\r\nHost: ${url.host}\r\n`);
    await sleep(100);
    const closed = closing.tlsApp.close();
    socket.write('\r\n');
    await ended;
    await closed;
    const { status, body } = parsed(answer);
    expect({ status, body }).toEqual({ status: 'HTTP/1.1 503 Service Unavailable', body: { error: { code: 'ca_unavailable', message: expect.any(String) } } });
    expect(answer).toMatch(/\r\nx-content-type-options: nosniff\r\n/i);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  });
});
