/**
 * Signing workers: the built worker (dist/, which `npm test` compiles first)
 * verifies CSRs and signs leaves exactly as the main thread would.
 */
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SigningPool } from '../../src/signing/signing-pool.js';
import { VerifiedCsr } from '../../src/x509/csr.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { randomSerial } from '../../src/x509/serial.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { cleanupLater } from '../support/cleanup.js';
import { startTestCa } from '../support/test-ca.js';

// The server binary signs through workers by default, so every test that starts it (test/cli/, test/agent/) issues through them too.

const WORKER = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/signing/signing-worker.js'));

/** A worker that takes jobs and never answers, as one stuck in native code would (it could not be terminated either). */
const SILENT = new URL(`data:text/javascript,${encodeURIComponent("import { parentPort } from 'node:worker_threads'; parentPort.on('message', () => {});")}`);

function pool(size = 2, url = WORKER, stallMs?: number): SigningPool {
  const p = new SigningPool(size, url, stallMs);
  cleanupLater(() => p.close());
  return p;
}

/** The pool's worker slots, looked into to see where work went. */
function slotsOf(p: SigningPool): Array<{ worker: { terminate(): Promise<number> }; inFlight: Map<number, unknown> }> {
  return (p as unknown as { slots: Array<{ worker: { terminate(): Promise<number> }; inFlight: Map<number, unknown> }> }).slots;
}

async function csrPem(): Promise<string> {
  const keys = await generateKeyPair('ec-p256');
  return createCsr(keys.privateKey, keys.publicKey);
}

describe('SigningPool', () => {
  it('verifies a CSR to the same result as the main thread', async () => {
    const pem = await csrPem();
    expect(await pool().verify(pem)).toEqual(await VerifiedCsr.parse(pem));
  });

  it.each([
    ['garbage', 'not a csr', 'invalid_csr'],
    ['a CSR with a broken signature', 'BROKEN', 'csr_signature_invalid'],
  ])('refuses %s with the same error code', async (_name, input, code) => {
    let pem = input;
    if (input === 'BROKEN') {
      const good = await csrPem();
      const der = Buffer.from(good.replace(/-----[^-]+-----|\n/g, ''), 'base64');
      der[der.length - 5]! ^= 0xff;
      pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    }
    await expect(pool().verify(pem)).rejects.toMatchObject({ name: 'InvalidInputError', code });
  });

  it('signs leaves with the issuer keys it was given, and chain-verifies', async () => {
    const ca = await startTestCa();
    const p = pool();
    p.setIssuers(ca.manager.current());
    const issuer = ca.manager.current().activeIntermediate()!;
    const csr = await p.verify(await csrPem());
    const now = Math.floor(Date.now() / 1000);
    const der = await p.signLeaf(
      {
        serial: randomSerial(cryptoRandom),
        spiffeId: 'spiffe://example.org/ns/web',
        dnsNames: ['web.example'],
        ipAddresses: [Buffer.from([127, 0, 0, 1])],
        spkiDer: csr.spkiDer,
        keyKind: csr.keyKind,
        notBefore: now - 30,
        notAfter: now + 600,
        issuer: { subjectName: issuer.facts.subjectName, keyId: issuer.facts.keyId },
      },
      issuer,
    );
    const leaf = new X509Certificate(der);
    expect(leaf.verify(issuer.facts.x509.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:web.example, URI:spiffe://example.org/ns/web, IP Address:127.0.0.1');
  });

  it('sends the jobs asked by several callbacks of one turn of the event loop in one message (each message wakes a worker)', async () => {
    const p = pool(1);
    const [slot] = slotsOf(p) as unknown as Array<{ worker: { postMessage(message: { op: string; jobs?: unknown[] }): void } }>;
    const sent: number[] = [];
    const post = slot!.worker.postMessage.bind(slot!.worker);
    slot!.worker.postMessage = (message) => {
      if (message.op === 'jobs') sent.push(message.jobs!.length);
      post(message);
    };
    const pems = await Promise.all([csrPem(), csrPem(), csrPem(), csrPem()]);
    // Timers due together run in one timers phase, each as its own callback, as requests read from several sockets do.
    const verified = await Promise.all(pems.map((pem) => new Promise((done) => setTimeout(() => done(p.verify(pem)), 0))));
    expect(verified).toHaveLength(4);
    expect(sent).toEqual([4]);
  });

  it('spreads concurrent work evenly over its workers', async () => {
    const p = pool(2);
    const pems = await Promise.all(Array.from({ length: 20 }, csrPem));
    const verified = pems.map((pem) => p.verify(pem));
    expect(slotsOf(p).map((s) => s.inFlight.size)).toEqual([10, 10]);
    expect(await Promise.all(verified)).toHaveLength(20);
  });

  it('fails the work a dying worker held, replaces it, and goes on', async () => {
    const p = pool(2);
    const pems = await Promise.all(Array.from({ length: 6 }, csrPem));
    const held = pems.map((pem) => p.verify(pem).then(() => 'verified', (err: Error) => err.message));
    const dying = slotsOf(p)[0]!.worker;
    await dying.terminate();
    const outcomes = await Promise.all(held);
    // The slots alternate: jobs 0, 2 and 4 were the dying worker's.
    expect(outcomes.filter((_, i) => i % 2 === 0)).toEqual(Array(3).fill(expect.stringMatching(/signing worker exited/)));
    expect(outcomes.filter((_, i) => i % 2 === 1)).toEqual(['verified', 'verified', 'verified']);
    expect(slotsOf(p)[0]!.worker).not.toBe(dying);
    expect(await Promise.all(pems.map((pem) => p.verify(pem)))).toHaveLength(6);
  });

  it('fails the work of a worker that stops answering with 503, and replaces it', async () => {
    const p = pool(1, SILENT, 200);
    const silent = slotsOf(p)[0]!.worker;
    await expect(p.verify(await csrPem())).rejects.toMatchObject({ name: 'UnavailableError', code: 'ca_unavailable', message: expect.stringMatching(/stopped answering/) });
    expect(slotsOf(p)[0]!.worker).not.toBe(silent);
  });

  it('does not take a worker for stuck when the main thread was too busy to read its answers', async () => {
    const p = pool(1, WORKER, 300);
    const worker = slotsOf(p)[0]!.worker;
    const verified = p.verify(await csrPem());
    // The worker answers within milliseconds; the answer waits unread while this thread is busy for four times the limit.
    const busyUntil = performance.now() + 1200;
    while (performance.now() < busyUntil);
    await expect(verified).resolves.toBeInstanceOf(VerifiedCsr);
    expect(slotsOf(p)[0]!.worker).toBe(worker);
  });

  it('does not take a worker that keeps answering for stuck, however long it has work in flight', async () => {
    // Limits this short stand for the 10 s default; a CI machine's load must not starve the worker for 400 ms.
    const p = pool(1, WORKER, 400);
    const pems = await Promise.all(Array.from({ length: 8 }, csrPem));
    const worker = slotsOf(p)[0]!.worker;
    const end = performance.now() + 1600;
    // Lanes started apart go in separate batches, so one is in flight while another's answer arrives: for four times the limit, never idle.
    await Promise.all(
      [0, 1, 2].map(async (lane) => {
        await new Promise((r) => setTimeout(r, lane * 20));
        for (let n = lane; performance.now() < end; n++) {
          await p.verify(pems[n % pems.length]!);
        }
      }),
    );
    expect(slotsOf(p)[0]!.worker).toBe(worker);
  });
});
