/**
 * A reader of an installed SVID directory that runs in its own thread, so it
 * reads truly concurrently with whatever publishes, and reads the ways the
 * install contract promises consistency for:
 *
 *   - resolve OUT/..data once, then read svid.pem and svid_key.pem inside that version;
 *   - open the stable names OUT/svid.pem, OUT/svid_key.pem and OUT/bundle.pem,
 *     as a proxy configured with those paths does: each must be there and
 *     complete; read while ..data pointed at one version throughout (looked at
 *     before and after), the key must be the certificate's;
 *   - read OUT/combined.pem (key, then chain) in one read, when it exists.
 *
 * Every read set is checked: the files parse completely (a chain of
 * `chainLength` certificates, one private key, a bundle of at least one
 * certificate) and the key is the leaf's.
 *
 * Once the first version has been seen, ..data and the stable names must never
 * be missing: an ENOENT on any of them is counted as `missing` (combined.pem
 * only once it has been seen, as it is optional). A swap that is not one
 * rename(2) leaves such a moment. Only a version directory removed between
 * resolving ..data and reading inside it (ENOENT there) is counted as
 * `vanished`, not as a failure: the contract keeps only the current and the
 * previous version.
 */
import { Worker } from 'node:worker_threads';
import { cleanupLater } from './cleanup.js';

export interface ReaderReport {
  /** Consistent svid.pem + svid_key.pem sets read through one resolution of ..data. */
  readonly pairReads: number;
  /** Consistent svid.pem + svid_key.pem sets read through the stable names while ..data did not move. */
  readonly stableReads: number;
  /** Consistent combined.pem reads. */
  readonly combinedReads: number;
  /** Distinct version directories read from. */
  readonly versionsSeen: number;
  /** Reads abandoned because the version directory had been removed meanwhile. */
  readonly vanished: number;
  /** Sets whose key does not belong to the leaf (at most 5 described). */
  readonly mismatches: readonly string[];
  /** Files that were empty, truncated or otherwise unreadable as PEM (at most 5 described). */
  readonly partials: readonly string[];
  /** ..data or a stable name not found after the first publication had been seen (at most 5 described). */
  readonly missing: readonly string[];
  readonly mismatchCount: number;
  readonly partialCount: number;
  readonly missingCount: number;
}

export interface RunningReader {
  /** Stops the loop and returns what it saw. */
  stop(): Promise<ReaderReport>;
}

const READER_SOURCE = String.raw`
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync, readlinkSync } = require('node:fs');
const { join } = require('node:path');
const { X509Certificate, createPrivateKey, createPublicKey } = require('node:crypto');
const { dir, chainLength, flag } = workerData;
const stopFlag = new Int32Array(flag);
const CERT = /-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n/g;
const KEY = /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n/;
/** The names every installation has; combined.pem is optional. */
const REQUIRED = ['svid.pem', 'svid_key.pem', 'bundle.pem'];
const report = {
  pairReads: 0, stableReads: 0, combinedReads: 0, vanished: 0,
  mismatches: [], partials: [], missing: [], mismatchCount: 0, partialCount: 0, missingCount: 0,
};
const versions = new Set();
const namesSeen = new Set();
let published = false;

function spki(key) {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function partial(what) {
  report.partialCount++;
  if (report.partials.length < 5) report.partials.push(what);
  return false;
}

function missing(name) {
  report.missingCount++;
  if (report.missing.length < 5) report.missing.push(name + ': not found after version ' + [...versions].at(-1) + ' had been seen');
}

/** Whether pem is exactly 'count' whole certificates (at least one when count is undefined). */
function completeCertificates(where, pem, count) {
  const certs = pem.match(CERT) || [];
  if (certs.join('') !== pem || (count === undefined ? certs.length === 0 : certs.length !== count)) {
    return partial(where + ': ' + certs.length + ' certificate(s) in ' + pem.length + ' bytes');
  }
  return true;
}

function completeKey(where, keyPem) {
  return KEY.test(keyPem) ? true : partial(where + ': key of ' + keyPem.length + ' bytes');
}

/** Both complete, and the key the leaf's; 'pair' false checks only that each is complete (read from different versions). */
function examine(where, chainPem, keyPem, pair = true) {
  const chainOk = completeCertificates(where, chainPem, chainLength);
  const keyOk = completeKey(where, keyPem);
  if (!chainOk || !keyOk) return false;
  let leafKey, heldKey;
  try {
    leafKey = new X509Certificate(chainPem.match(CERT)[0]).publicKey.export({ type: 'spki', format: 'der' });
    heldKey = spki(createPrivateKey(keyPem));
  } catch (err) {
    return partial(where + ': ' + err.message);
  }
  if (pair && !leafKey.equals(heldKey)) {
    report.mismatchCount++;
    if (report.mismatches.length < 5) report.mismatches.push(where + ': the key is not the leaf certificate key');
    return false;
  }
  return pair;
}

/** Where ..data points; undefined when it does not exist, counted as missing once a version has been seen. */
function dataLink() {
  try {
    const version = readlinkSync(join(dir, '..data'));
    published = true;
    versions.add(version);
    return version;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    if (published) missing('..data');
    return undefined;
  }
}

/** A stable name opened as a proxy opens it (following OUT/name -> ..data/name); undefined when not found. */
function openStable(name) {
  try {
    const text = readFileSync(join(dir, name), 'utf8');
    namesSeen.add(name);
    return text;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    if (published && (REQUIRED.includes(name) || namesSeen.has(name))) missing(name);
    return undefined;
  }
}

while (Atomics.load(stopFlag, 0) === 0) {
  // 1. Through one resolution of ..data.
  const version = dataLink();
  if (version === undefined) continue; // before the first publication; after it, counted as missing
  let chainPem, keyPem;
  try {
    chainPem = readFileSync(join(dir, version, 'svid.pem'), 'utf8');
    keyPem = readFileSync(join(dir, version, 'svid_key.pem'), 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    report.vanished++;
    chainPem = undefined;
  }
  if (chainPem !== undefined && examine(version, chainPem, keyPem)) report.pairReads++;

  // 2. Through the stable names, as a proxy reloading its files does.
  const before = dataLink();
  const stableChain = openStable('svid.pem');
  const stableKey = openStable('svid_key.pem');
  const bundle = openStable('bundle.pem');
  const after = dataLink();
  if (bundle !== undefined) completeCertificates('bundle.pem', bundle);
  if (stableChain !== undefined && stableKey !== undefined) {
    const unmoved = before !== undefined && before === after;
    if (examine('svid.pem and svid_key.pem (..data -> ' + before + ')', stableChain, stableKey, unmoved)) report.stableReads++;
  }

  // 3. combined.pem in one read.
  const combined = openStable('combined.pem');
  if (combined === undefined) continue;
  const key = combined.match(KEY);
  const keyPart = key ? key[0] : '';
  if (examine('combined.pem', combined.slice(keyPart.length), keyPart)) report.combinedReads++;
}
parentPort.postMessage({ ...report, versionsSeen: versions.size });
`;

/** Starts reading `dir` in a loop; `chainLength` is how many certificates svid.pem must hold (leaf and intermediates). */
export function startConsistencyReader(dir: string, chainLength = 2): RunningReader {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(READER_SOURCE, { eval: true, workerData: { dir, chainLength, flag } });
  const done = new Promise<ReaderReport>((resolve, reject) => {
    worker.once('message', (report: ReaderReport) => resolve(report));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the reader thread exited (code ${code}) without a report`)));
  });
  cleanupLater(() => worker.terminate());
  return {
    stop: async () => {
      Atomics.store(new Int32Array(flag), 0, 1);
      try {
        return await done;
      } finally {
        await worker.terminate();
      }
    },
  };
}
