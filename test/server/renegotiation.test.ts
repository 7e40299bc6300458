/**
 * TLS 1.2 renegotiation is refused. Node keeps socket.authorized from the
 * first handshake when a client renegotiates, while getPeerX509Certificate()
 * then returns the certificate of the second, whose chain nothing checked: a
 * client could open with any valid SVID and continue as a certificate it made
 * itself.
 */
import { connect, type TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { attestAgent, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
let agent: Credential;
beforeAll(async () => {
  ca = await startTestCa();
  agent = await attestAgent(ca, 'node-1');
});

function open(): Promise<TLSSocket> {
  const url = new URL(ca.url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: url.hostname, port: Number(url.port), ca: ca.bundlePem, key: agent.keyPem, cert: agent.chainPem,
      maxVersion: 'TLSv1.2', servername: 'localhost',
    }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('a TLS 1.2 client', () => {
  it('cannot renegotiate: the CA answers with an alert and the client reports "no renegotiation"', async () => {
    const socket = await open();
    try {
      const outcome = await new Promise<string>((resolve) => {
        socket.once('error', (err) => resolve(`error: ${err.message}`));
        socket.once('close', () => resolve('closed'));
        const started = socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err ? `refused: ${err.message}` : 'renegotiated'));
        if (!started) resolve('not started');
      });
      expect(outcome).toMatch(/no renegotiation/);
    } finally {
      socket.destroy();
    }
  });
});
