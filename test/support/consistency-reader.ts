/**
 * A reader of an installed SVID directory that runs in its own thread, so it
 * reads truly concurrently with whatever publishes, and reads the way the
 * install contract promises consistency for:
 *
 *   - resolve OUT/..data once, then read svid.pem and svid_key.pem inside that version;
 *   - read OUT/combined.pem (key, then chain) in one read, when it exists.
 *
 * Every read set is checked: both files parse completely (a chain of
 * `chainLength` certificates, one private key) and the key is the leaf's.
 * A version directory removed between resolving and reading (ENOENT) is
 * counted, not treated as inconsistency: the contract keeps only the current
 * and the previous version.
 */
import { Worker } from 'node:worker_threads';
import { cleanupLater } from './cleanup.js';

export interface ReaderReport {
  /** Consistent svid.pem + svid_key.pem sets read through one resolution of ..data. */
  readonly pairReads: number;
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
  readonly mismatchCount: number;
  readonly partialCount: number;
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
const report = { pairReads: 0, combinedReads: 0, vanished: 0, mismatches: [], partials: [], mismatchCount: 0, partialCount: 0 };
const versions = new Set();

function spki(key) {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function examine(where, chainPem, keyPem) {
  const certs = chainPem.match(CERT) || [];
  if (certs.join('') !== chainPem || certs.length !== chainLength || !KEY.test(keyPem)) {
    report.partialCount++;
    if (report.partials.length < 5) report.partials.push(where + ': ' + certs.length + ' certificate(s) in ' + chainPem.length + ' chain bytes, key ' + keyPem.length + ' bytes');
    return false;
  }
  let leafKey, heldKey;
  try {
    leafKey = new X509Certificate(certs[0]).publicKey.export({ type: 'spki', format: 'der' });
    heldKey = spki(createPrivateKey(keyPem));
  } catch (err) {
    report.partialCount++;
    if (report.partials.length < 5) report.partials.push(where + ': ' + err.message);
    return false;
  }
  if (!leafKey.equals(heldKey)) {
    report.mismatchCount++;
    if (report.mismatches.length < 5) report.mismatches.push(where + ': the key is not the leaf certificate key');
    return false;
  }
  return true;
}

const combinedPath = join(dir, 'combined.pem');
while (Atomics.load(stopFlag, 0) === 0) {
  let version;
  try {
    version = readlinkSync(join(dir, '..data'));
  } catch (err) {
    if (err.code === 'ENOENT') continue; // nothing published yet
    throw err;
  }
  versions.add(version);
  let chainPem, keyPem;
  try {
    chainPem = readFileSync(join(dir, version, 'svid.pem'), 'utf8');
    keyPem = readFileSync(join(dir, version, 'svid_key.pem'), 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    report.vanished++;
    continue;
  }
  if (examine(version, chainPem, keyPem)) report.pairReads++;

  let combined;
  try {
    combined = readFileSync(combinedPath, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    continue;
  }
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
