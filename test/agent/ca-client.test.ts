/** The agent's HTTPS client keeps its connections alive across syncs, and starts over only when its credential or trust changes. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CaClient } from '../../src/agent/ca-client.js';
import { cleanupLater } from '../support/cleanup.js';
import { selfSigned } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

async function countingServer(): Promise<{ url: URL; certPem: string; keyPem: string; connections: () => number }> {
  const files = selfSigned(tempDir(), 'ca-host', { extensions: ['subjectAltName=IP:127.0.0.1'] });
  const certPem = readFileSync(files.cert, 'utf8');
  const keyPem = readFileSync(files.key, 'utf8');
  let connections = 0;
  const server = createServer({ cert: certPem, key: keyPem }, (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ entries: [], bundle: certPem, bundleSequence: 1 }));
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanupLater(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  return { url: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), certPem, keyPem, connections: () => connections };
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
});
