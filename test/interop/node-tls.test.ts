/**
 * Two workloads with meshca SVIDs talk mutual TLS through node:tls, trusting
 * only bundle.pem and authorizing each other by SPIFFE ID (not host name), as
 * a SPIFFE-aware proxy would. A certificate from any other CA is refused.
 */
import type { AddressInfo } from 'node:net';
import { connect, createServer, type PeerCertificate, type SecureVersion, type TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_TYPES } from '../../src/x509/keys.js';
import { makeForeignCredential } from '../support/foreign-ca.js';
import { mintSvid } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const SERVER_ID = 'spiffe://example.org/ns/prod/sa/db';
const CLIENT_ID = 'spiffe://example.org/ns/prod/sa/web';

interface Side {
  readonly cert?: string;
  readonly key?: string;
  readonly ca: string;
  readonly maxVersion?: SecureVersion;
}

interface HandshakeOutcome {
  /** The SPIFFE ID the server saw in the client's certificate, once it accepted the connection. */
  readonly serverSaw?: string;
  /** The SPIFFE ID the client saw in the server's certificate. */
  readonly clientSaw?: string;
  /** What the client read: the server writes only after accepting the client. */
  readonly clientRead: string;
  readonly serverError?: string;
  readonly clientError?: string;
}

function uriSan(socket: TLSSocket): string | undefined {
  return (socket.getPeerX509Certificate()?.subjectAltName ?? '')
    .split(', ')
    .find((n) => n.startsWith('URI:'))
    ?.slice(4);
}

/** SPIFFE authorization: the peer must hold exactly this ID; host names play no part. */
function expectSpiffeId(expected: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const uris = (cert.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('URI:'));
    return uris.length === 1 && uris[0] === `URI:${expected}` ? undefined : new Error(`peer is ${uris.join(' ')}, expected ${expected}`);
  };
}

/** One connection from `client` to `server`; resolves when both ends are done with it. */
async function handshake(server: Side, client: Side): Promise<HandshakeOutcome> {
  let serverSaw: string | undefined;
  let serverError: string | undefined;
  const tlsServer = createServer({ ...server, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    serverSaw = uriSan(socket);
    socket.end('hello from db\n');
  });
  const serverDone = new Promise<void>((resolve) => {
    tlsServer.on('secureConnection', (socket: TLSSocket) => socket.on('close', () => resolve()));
    tlsServer.on('tlsClientError', (err) => {
      serverError = (err as NodeJS.ErrnoException).code ?? err.message;
      resolve();
    });
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = tlsServer.address() as AddressInfo;
    const clientResult = await new Promise<{ clientSaw?: string; clientRead: string; clientError?: string }>((resolve) => {
      let clientSaw: string | undefined;
      let clientRead = '';
      let clientError: string | undefined;
      const socket = connect({ ...client, host: '127.0.0.1', port, checkServerIdentity: expectSpiffeId(SERVER_ID) }, () => {
        clientSaw = uriSan(socket);
      });
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (clientRead += d));
      socket.on('error', (err: NodeJS.ErrnoException) => (clientError = err.code ?? err.message));
      socket.on('close', () => resolve({ ...(clientSaw ? { clientSaw } : {}), clientRead, ...(clientError ? { clientError } : {}) }));
    });
    await serverDone;
    return { ...clientResult, ...(serverSaw ? { serverSaw } : {}), ...(serverError ? { serverError } : {}) };
  } finally {
    await new Promise((resolve) => tlsServer.close(resolve));
  }
}

describe('node:tls between two meshca SVIDs', () => {
  let ca: TestCa;
  beforeAll(async () => {
    ca = await startTestCa();
  });

  it.each(KEY_TYPES)('pass/%s keys: mutual TLS, each side sees the other SPIFFE ID', async (keyType) => {
    const db = await mintSvid(ca.localApp, SERVER_ID, { keyType });
    const web = await mintSvid(ca.localApp, CLIENT_ID, { keyType });
    const outcome = await handshake(
      { cert: db.chainPem, key: db.keyPem, ca: db.bundlePem },
      { cert: web.chainPem, key: web.keyPem, ca: web.bundlePem },
    );
    expect(outcome).toEqual({ serverSaw: CLIENT_ID, clientSaw: SERVER_ID, clientRead: 'hello from db\n' });
  });

  it('pass/over TLS 1.2 as well', async () => {
    const db = await mintSvid(ca.localApp, SERVER_ID);
    const web = await mintSvid(ca.localApp, CLIENT_ID);
    const outcome = await handshake(
      { cert: db.chainPem, key: db.keyPem, ca: ca.bundlePem },
      { cert: web.chainPem, key: web.keyPem, ca: ca.bundlePem, maxVersion: 'TLSv1.2' },
    );
    expect(outcome).toEqual({ serverSaw: CLIENT_ID, clientSaw: SERVER_ID, clientRead: 'hello from db\n' });
  });

  it.each([
    {
      name: 'fail/client holds a certificate from a foreign CA (openssl)',
      client: async () => {
        const foreign = makeForeignCredential(tempDir(), CLIENT_ID);
        return { cert: foreign.chainPem, key: foreign.keyPem };
      },
    },
    {
      name: 'fail/client holds an SVID from another meshca of the same trust domain',
      client: async () => {
        const other = await startTestCa();
        const svid = await mintSvid(other.localApp, CLIENT_ID);
        return { cert: svid.chainPem, key: svid.keyPem };
      },
    },
    { name: 'fail/client presents no certificate', client: async () => ({}) },
  ])('$name: the server refuses it', async ({ client }) => {
    const db = await mintSvid(ca.localApp, SERVER_ID);
    const outcome = await handshake({ cert: db.chainPem, key: db.keyPem, ca: ca.bundlePem }, { ...(await client()), ca: ca.bundlePem });
    expect(outcome.serverSaw).toBeUndefined();
    expect(outcome.clientRead).toBe('');
    expect(outcome.serverError).toBeDefined();
  });

  it('fail/the client refuses a server whose SPIFFE ID is not the expected one', async () => {
    const impostor = await mintSvid(ca.localApp, 'spiffe://example.org/ns/prod/sa/not-db');
    const web = await mintSvid(ca.localApp, CLIENT_ID);
    const outcome = await handshake(
      { cert: impostor.chainPem, key: impostor.keyPem, ca: ca.bundlePem },
      { cert: web.chainPem, key: web.keyPem, ca: ca.bundlePem },
    );
    expect(outcome.clientSaw).toBeUndefined();
    expect(outcome.clientRead).toBe('');
    expect(outcome.clientError).toBe(`peer is URI:spiffe://example.org/ns/prod/sa/not-db, expected ${SERVER_ID}`);
  });
});
