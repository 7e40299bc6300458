/**
 * The crypto ceiling: ECDSA P-256 verifications plus signatures per second
 * with node:crypto on every core, the most issuances this machine could ever
 * do. Measured twice: with the keys already loaded, and including turning each
 * CSR's key into a KeyObject (which a CA must do for every request).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const ca = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const leaf = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const data = crypto.randomBytes(350);
const sig = crypto.sign('sha256', data, leaf.privateKey);
const jwk = leaf.publicKey.export({ format: 'jwk' });
const end = Date.now() + workerData.ms;
let n = 0;
while (Date.now() < end) {
  const key = workerData.importKey ? crypto.createPublicKey({ key: jwk, format: 'jwk' }) : leaf.publicKey;
  if (!crypto.verify('sha256', data, key, sig)) throw new Error('verify failed');
  crypto.sign('sha256', data, ca.privateKey);
  n++;
}
parentPort.postMessage(n);
`;

/** How long past its measuring window a worker may take to report. */
const REPORT_GRACE_SECONDS = 30;

export async function cryptoCeiling(seconds: number, importKey: boolean): Promise<{ perSecond: number; threads: number }> {
  const threads = availableParallelism();
  const counts = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { ms: seconds * 1000, importKey } });
          // A worker that never reports fails the run loudly rather than leaving it waiting for good.
          const overdue = setTimeout(() => {
            reject(new Error(`a ceiling worker did not report within ${seconds + REPORT_GRACE_SECONDS} s`));
            void w.terminate();
          }, (seconds + REPORT_GRACE_SECONDS) * 1000);
          w.once('message', (n: number) => {
            clearTimeout(overdue);
            resolve(n);
          });
          w.once('error', reject);
          w.once('exit', (code) => {
            clearTimeout(overdue);
            reject(new Error(`a ceiling worker exited (code ${code}) before reporting`));
          });
        }),
    ),
  );
  return { perSecond: counts.reduce((a, b) => a + b, 0) / seconds, threads };
}
