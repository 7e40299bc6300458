/**
 * A signing worker: verifies CSRs and signs leaves synchronously, so that the
 * main thread spends its time on HTTP and the datastore. Holds copies of the
 * issuers' keys the main thread sends it; it never touches a file.
 */
import { parentPort } from 'node:worker_threads';
import { InvalidInputError } from '../errors.js';
import { ownedBytes, receivedBytes } from '../platform/thread-bytes.js';
import { parseDer } from '../x509/asn1.js';
import { VerifiedCsr } from '../x509/csr.js';
import { KeyObjectSigner } from '../x509/signer.js';
import { SvidEncoder } from '../x509/svid-encoder.js';
import type { WorkerFailure, WorkerJob, WorkerRequest, WorkerResponse } from './protocol.js';

interface Issuer {
  readonly signer: KeyObjectSigner;
  readonly encoder: SvidEncoder;
}

const issuers = new Map<string, Issuer>();
const port = parentPort!;

function failure(err: unknown): WorkerFailure {
  return err instanceof InvalidInputError
    ? { kind: 'invalid', code: err.code, message: err.message }
    : { kind: 'internal', message: err instanceof Error ? err.message : String(err) };
}

function run(job: WorkerJob): WorkerResponse {
  try {
    if (job.op === 'verify') {
      const csr = VerifiedCsr.parseSync(job.pem);
      return { id: job.id, verified: { spkiDer: ownedBytes(csr.spkiDer), keyKind: csr.keyKind, publicKeySha256: csr.publicKeySha256 } };
    }
    const issuer = issuers.get(job.issuerId);
    if (!issuer) throw new Error(`signing worker has no key for authority ${job.issuerId}`);
    // Structured cloning turns Buffers into plain Uint8Arrays; the encoders want Buffers back.
    const facts = {
      ...job.facts,
      spkiDer: receivedBytes(job.facts.spkiDer),
      serial: receivedBytes(job.facts.serial),
      ipAddresses: job.facts.ipAddresses.map(receivedBytes),
    };
    return { id: job.id, signed: ownedBytes(issuer.encoder.signSync(facts, issuer.signer)) };
  } catch (err) {
    return { id: job.id, failure: failure(err) };
  }
}

port.on('message', (message: WorkerRequest) => {
  if (message.op === 'issuers') {
    issuers.clear();
    for (const i of message.issuers) {
      const signer = new KeyObjectSigner(i.key);
      const ref = { subjectName: parseDer(receivedBytes(i.subjectDer)), keyId: receivedBytes(i.keyId) };
      issuers.set(i.id, { signer, encoder: new SvidEncoder(ref, signer.algorithm) });
    }
    return;
  }
  port.postMessage(message.jobs.map(run));
});
