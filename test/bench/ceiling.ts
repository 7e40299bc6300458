/**
 * The crypto ceiling: ECDSA P-256 verifications plus signatures per second
 * with node:crypto on every core, the most issuances this machine could ever
 * do. Measured twice: with the keys already loaded, and including turning each
 * CSR's key into a KeyObject (which a CA must do for every request).
 *
 * Each core's loop runs in a child process rather than a worker thread, so
 * that one that hangs can be killed and the bench ends with an error instead
 * of waiting on a thread nothing can stop.
 */
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * The JWK is exported from a key parsed from DER, not from the generated
 * KeyObject itself: Node 20 could deadlock exporting a key from
 * generateKeyPairSync as JWK when a garbage collection in that export freed
 * the key generation's job, whose destructor takes the lock the export
 * holds. Seen here as a ceiling worker that never reported (gdb: the thread
 * waiting in ~KeyGenJob under ExportJWKEcKey).
 */
const LOOP_SOURCE = `
const crypto = require('node:crypto');
const [ms, importKey] = [Number(process.argv[1]), process.argv[2] === 'import'];
const ca = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const leaf = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const data = crypto.randomBytes(350);
const sig = crypto.sign('sha256', data, leaf.privateKey);
const jwk = crypto.createPublicKey({ key: leaf.publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
const end = Date.now() + ms;
let n = 0;
while (Date.now() < end) {
  const key = importKey ? crypto.createPublicKey({ key: jwk, format: 'jwk' }) : leaf.publicKey;
  if (!crypto.verify('sha256', data, key, sig)) throw new Error('verify failed');
  crypto.sign('sha256', data, ca.privateKey);
  n++;
}
process.stdout.write(String(n));
`;

/** How long past its measuring window a loop may take to report before it is killed. */
const REPORT_GRACE_SECONDS = 30;

export async function cryptoCeiling(seconds: number, importKey: boolean): Promise<{ perSecond: number; threads: number }> {
  const threads = availableParallelism();
  const counts = await Promise.all(Array.from({ length: threads }, () => oneCore(seconds, importKey)));
  return { perSecond: counts.reduce((a, b) => a + b, 0) / seconds, threads };
}

function oneCore(seconds: number, importKey: boolean): Promise<number> {
  const limitMs = (seconds + REPORT_GRACE_SECONDS) * 1000;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', LOOP_SOURCE, String(seconds * 1000), importKey ? 'import' : 'loaded'],
      { timeout: limitMs, killSignal: 'SIGKILL' },
      (err, stdout) => {
        const n = Number(stdout);
        if (err?.killed) reject(new Error(`a ceiling loop did not report within ${limitMs / 1000} s and was killed`));
        else if (err) reject(new Error(`a ceiling loop failed: ${err.message}`));
        else if (!Number.isSafeInteger(n) || n <= 0) reject(new Error(`a ceiling loop reported ${JSON.stringify(stdout)}, not a count`));
        else resolve(n);
      },
    );
  });
}
