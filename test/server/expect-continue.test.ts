/**
 * `Expect: 100-continue` over real connections: a client is asked for its
 * body only once the CA would serve it. A caller the access control refuses
 * (no credential, an untrusted one, a role the route does not admit) hears
 * its 401 or 403 in meshca's error shape instead of `100 Continue`, on any
 * route that needs a credential; a caller it admits, and anyone on a public
 * route, is asked for the body and answered.
 */
import { connect as connectSocket, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminCredential, attestAgent, foreignCredential, mintCredential, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
const callers: Record<string, Credential | undefined> = { nobody: undefined };
beforeAll(async () => {
  ca = await startTestCa();
  callers['operator'] = await adminCredential(ca, 'operator', 'alice');
  callers['auditor'] = await adminCredential(ca, 'auditor', 'bob');
  callers['agent'] = await attestAgent(ca, 'node-1');
  callers['workload'] = await mintCredential(ca, `spiffe://${ca.config.trustDomain.name}/web`);
  callers['foreign'] = await foreignCredential(`spiffe://${ca.config.trustDomain.name}/meshca/admin/operator/mallory`);
});

/** Where the client connects: the mutual-TLS port as a caller, or the local operator socket. */
type Endpoint = { readonly tlsAs: string } | { readonly local: true };

function open(endpoint: Endpoint): Socket {
  if ('local' in endpoint) return connectSocket({ path: ca.socketPath });
  const url = new URL(ca.url);
  const credential = callers[endpoint.tlsAs];
  return connectTls({ host: url.hostname, port: Number(url.port), ca: ca.bundlePem, ...(credential ? { key: credential.keyPem, cert: credential.chainPem } : {}) });
}

/**
 * Sends the headers of a POST asking to continue, and its body only once told
 * `100 Continue`, as a strict client does; resolves with everything answered
 * when the connection closes (or after two seconds, should it not).
 */
function askToContinue(endpoint: Endpoint, path: string, body: string, keepAlive = false): Promise<string> {
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
  return new Promise((resolve, reject) => {
    const socket = open(endpoint);
    let answer = '';
    let bodySent = false;
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.once('local' in endpoint ? 'connect' : 'secureConnect', () => socket.write(head));
    socket.on('data', (d: Buffer) => {
      answer += d.toString();
      if (!bodySent && answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        bodySent = true;
        socket.write(body);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

const statusLines = (answer: string) => answer.split('\r\n').filter((line) => line.startsWith('HTTP/1.1 '));
const errorCode = (answer: string) => (JSON.parse(answer.slice(answer.lastIndexOf('\r\n\r\n') + 4)) as { error: { code: string } }).error.code;

describe('a caller refused by the access control is never asked for the body', () => {
  it.each([
    { name: 'no client certificate', as: 'nobody', path: '/v1/tokens', status: 'HTTP/1.1 401 Unauthorized', code: 'unauthenticated' },
    { name: 'a certificate from another CA', as: 'foreign', path: '/v1/tokens', status: 'HTTP/1.1 401 Unauthorized', code: 'certificate_untrusted' },
    { name: 'no client certificate, on an agent route', as: 'nobody', path: '/v1/agent/svids', status: 'HTTP/1.1 401 Unauthorized', code: 'unauthenticated' },
    { name: 'a workload SVID, on an operator route', as: 'workload', path: '/v1/admin/credentials', status: 'HTTP/1.1 403 Forbidden', code: 'forbidden' },
    { name: 'an auditor, on an operator route', as: 'auditor', path: '/v1/tokens', status: 'HTTP/1.1 403 Forbidden', code: 'forbidden' },
    { name: 'an operator, on an agent route', as: 'operator', path: '/v1/agent/svids', status: 'HTTP/1.1 403 Forbidden', code: 'forbidden' },
    { name: 'an agent, on an operator route', as: 'agent', path: '/v1/svids/mint', status: 'HTTP/1.1 403 Forbidden', code: 'forbidden' },
  ])('fail/$name: POST $path -> $status $code, no 100 Continue', async ({ as, path, status, code }) => {
    const answer = await askToContinue({ tlsAs: as }, path, '{"agent":"never-read"}');
    expect(statusLines(answer)).toEqual([status]);
    expect(errorCode(answer)).toBe(code);
  });

  it('fail/a refusal on a kept-alive connection closes it: the body it never asked for is not waited for', async () => {
    const answer = await askToContinue({ tlsAs: 'nobody' }, '/v1/tokens', '{"agent":"never-read"}', true);
    expect(statusLines(answer)).toEqual(['HTTP/1.1 401 Unauthorized']);
    expect(answer.toLowerCase()).toContain('\r\nconnection: close\r\n');
  });
});

describe('a caller the access control admits is asked for the body, then answered', () => {
  it.each([
    { name: 'an operator over mutual TLS', endpoint: { tlsAs: 'operator' }, path: '/v1/tokens', body: '{"agent":"continued-1"}', status: 'HTTP/1.1 201 Created' },
    { name: 'the operator on the local socket', endpoint: { local: true }, path: '/v1/tokens', body: '{"agent":"continued-2"}', status: 'HTTP/1.1 201 Created' },
    { name: 'an agent on its own route', endpoint: { tlsAs: 'agent' }, path: '/v1/agent/svids', body: '{}', status: 'HTTP/1.1 400 Bad Request' },
    { name: 'anyone on the public attestation route', endpoint: { tlsAs: 'nobody' }, path: '/v1/agent/attest', body: '{}', status: 'HTTP/1.1 400 Bad Request' },
  ] as const)('pass/$name: POST $path -> 100 Continue, then $status', async ({ endpoint, path, body, status }) => {
    expect(statusLines(await askToContinue(endpoint, path, body))).toEqual(['HTTP/1.1 100 Continue', status]);
  });
});
