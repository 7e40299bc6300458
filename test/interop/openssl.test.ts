/**
 * meshca SVIDs in the hands of a TLS stack nobody here wrote: openssl s_server
 * and s_client, in strict X.509 mode, requiring and verifying each other's
 * certificate against bundle.pem. A client from a foreign CA is refused.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { KEY_TYPES, type KeyType } from '../../src/x509/keys.js';
import { makeForeignCredential } from '../support/foreign-ca.js';
import { mintSvid, writeCredential, type CredentialFiles } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const CLIENT_ID = 'spiffe://example.org/ns/prod/sa/web';
const SERVER_ID = 'spiffe://example.org/ns/prod/sa/db';

interface OpensslServer {
  readonly port: number;
  /** Resolves to s_server's whole output once it has exited (after its one connection). */
  readonly finished: Promise<string>;
}

/**
 * `openssl s_server` for one connection (-naccept 1) on a port the system
 * picks, requiring a client certificate that verifies against the bundle.
 * Killed by its PID when the test ends if it is still running.
 */
async function opensslServer(files: CredentialFiles): Promise<OpensslServer> {
  const child = spawn(
    'openssl',
    ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-Verify', '1', '-verify_return_error', '-x509_strict',
      '-cert', files.leaf, '-cert_chain', files.intermediates, '-key', files.key, '-CAfile', files.bundle],
    // stdin stays open: s_server stops at EOF on its standard input.
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const finished = new Promise<string>((resolve) => child.once('exit', () => resolve(output)));
  let running = true;
  void finished.then(() => (running = false));
  onTestFinished(async () => {
    if (running) process.kill(child.pid!, 'SIGTERM');
    await finished;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s_server did not start:\n${output}`)), 10_000);
    const look = () => {
      const match = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off('data', look);
      resolve(Number(match[1]));
    };
    child.stdout.on('data', look);
    void finished.then(() => reject(new Error(`s_server exited before listening:\n${output}`)));
  });
  return { port, finished };
}

/** `openssl s_client` sending `input`; resolves to its exit code and output. */
function opensslClient(port: number, args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-verify_return_error', '-x509_strict', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

const clientArgs = (f: { leaf: string; intermediates?: string; key: string }, bundle: string) => [
  '-cert', f.leaf, ...(f.intermediates ? ['-cert_chain', f.intermediates] : []), '-key', f.key, '-CAfile', bundle,
];

/** The certificate s_server printed as "Client certificate", if it accepted one. */
function clientCertificateSeenBy(serverOutput: string): X509Certificate | undefined {
  const pem = /Client certificate\n(-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----)/.exec(serverOutput)?.[1];
  return pem ? new X509Certificate(pem) : undefined;
}

async function svidFiles(ca: TestCa, spiffeId: string, keyType: KeyType = 'ec-p256'): Promise<CredentialFiles> {
  const dir = join(tempDir(), spiffeId.split('/').pop()!);
  mkdirSync(dir);
  return writeCredential(dir, await mintSvid(ca.localApp, spiffeId, { keyType }));
}

describe('openssl s_server and s_client with meshca SVIDs', () => {
  let ca: TestCa;
  beforeAll(async () => {
    ca = await startTestCa();
  });

  it.each(KEY_TYPES)('pass/%s keys: mutual TLS verifies on both sides', async (keyType) => {
    const server = await opensslServer(await svidFiles(ca, SERVER_ID, keyType));
    const client = await svidFiles(ca, CLIENT_ID, keyType);
    const res = await opensslClient(server.port, clientArgs(client, client.bundle), 'ping from web\n');
    const serverOutput = await server.finished;

    expect(res.code, res.output).toBe(0);
    expect(res.output).toContain('Verify return code: 0 (ok)');
    expect(res.output).toMatch(/New, TLSv1\.3/);
    const seen = clientCertificateSeenBy(serverOutput);
    expect(seen?.subjectAltName, serverOutput).toBe(`URI:${CLIENT_ID}`);
    expect(seen?.raw.equals(new X509Certificate(readFileSync(client.leaf)).raw)).toBe(true);
    expect(serverOutput).toContain('ping from web');
  });

  it('pass/TLS 1.2', async () => {
    const server = await opensslServer(await svidFiles(ca, SERVER_ID));
    const client = await svidFiles(ca, CLIENT_ID);
    const res = await opensslClient(server.port, ['-tls1_2', ...clientArgs(client, client.bundle)], 'ping from web\n');
    const serverOutput = await server.finished;
    expect(res.code, res.output).toBe(0);
    expect(res.output).toContain('Verify return code: 0 (ok)');
    expect(res.output).toMatch(/New, TLSv1\.2/);
    expect(clientCertificateSeenBy(serverOutput)?.subjectAltName).toBe(`URI:${CLIENT_ID}`);
    expect(serverOutput).toContain('ping from web');
  });

  it.each([
    { name: 'fail/foreign-CA client over TLS 1.3', tls: [], clientKnowsAtOnce: false },
    { name: 'fail/foreign-CA client over TLS 1.2', tls: ['-tls1_2'], clientKnowsAtOnce: true },
  ])('$name is refused by s_server', async ({ tls, clientKnowsAtOnce }) => {
    const serverFiles = await svidFiles(ca, SERVER_ID);
    const server = await opensslServer(serverFiles);
    const foreign = makeForeignCredential(tempDir(), CLIENT_ID);
    const res = await opensslClient(
      server.port,
      [...tls, ...clientArgs({ leaf: foreign.files.cert, key: foreign.files.key }, serverFiles.bundle)],
      'ping from impostor\n',
    );
    const serverOutput = await server.finished;

    expect(serverOutput).toContain('verify error:num=20:unable to get local issuer certificate');
    expect(serverOutput).toContain('certificate verify failed');
    expect(clientCertificateSeenBy(serverOutput)).toBeUndefined();
    expect(serverOutput).not.toContain('ping from impostor');
    // The client did verify the server; in TLS 1.3 it learns of the refusal only after its side of the handshake.
    expect(res.output).toContain('Verify return code: 0 (ok)');
    if (clientKnowsAtOnce) {
      expect(res.code).not.toBe(0);
      expect(res.output).toContain('alert unknown ca');
    }
  });

  it('fail/a client without a certificate is refused by s_server', async () => {
    const files = await svidFiles(ca, SERVER_ID);
    const server = await opensslServer(files);
    await opensslClient(server.port, ['-CAfile', files.bundle], 'ping from nobody\n');
    const serverOutput = await server.finished;
    expect(serverOutput).toContain('peer did not return a certificate');
    expect(serverOutput).not.toContain('ping from nobody');
  });

  it('pass/s_client verifies the CA listener itself (-x509_strict, -verify_ip) and is served', async () => {
    const client = await svidFiles(ca, CLIENT_ID);
    const res = await opensslClient(
      ca.address.port,
      ['-verify_ip', '127.0.0.1', '-ign_eof', ...clientArgs(client, client.bundle)],
      'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n',
    );
    expect(res.code, res.output).toBe(0);
    expect(res.output).toContain('Verify return code: 0 (ok)');
    expect(res.output).toContain('HTTP/1.1 200 OK');
    expect(res.output).toContain('{"status":"ok"}');
  });
});
