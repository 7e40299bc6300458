/**
 * A signing worker: verifies CSRs and signs leaves synchronously, so that the
 * main thread spends its time on HTTP and the datastore. Holds copies of the
 * issuers' keys the main thread sends it; it never touches a file.
 */
import { parentPort } from 'node:worker_threads';
import { InvalidInputError } from '../errors.js';
import { parseDer, type Asn1 } from '../x509/asn1.js';
import { signCertificateSync } from '../x509/certificate.js';
import { VerifiedCsr } from '../x509/csr.js';
import { svidTemplate } from '../x509/profiles.js';
import { KeyObjectSigner } from '../x509/signer.js';
import type { WorkerFailure, WorkerRequest, WorkerResponse } from './protocol.js';

interface Issuer {
  readonly signer: KeyObjectSigner;
  readonly ref: { readonly subjectName: Asn1; readonly keyId: Buffer };
}

const issuers = new Map<string, Issuer>();
const port = parentPort!;

function failure(err: unknown): WorkerFailure {
  return err instanceof InvalidInputError
    ? { kind: 'invalid', code: err.code, message: err.message }
    : { kind: 'internal', message: err instanceof Error ? err.message : String(err) };
}

port.on('message', (message: WorkerRequest) => {
  if (message.op === 'issuers') {
    issuers.clear();
    for (const i of message.issuers) {
      issuers.set(i.id, {
        signer: new KeyObjectSigner(i.key),
        ref: { subjectName: parseDer(Buffer.from(i.subjectDer)), keyId: Buffer.from(i.keyId) },
      });
    }
    return;
  }
  let response: WorkerResponse;
  try {
    if (message.op === 'verify') {
      const csr = VerifiedCsr.parseSync(message.pem);
      response = { id: message.id, verified: { spkiDer: csr.spkiDer, keyKind: csr.keyKind, publicKeySha256: csr.publicKeySha256 } };
    } else {
      const issuer = issuers.get(message.issuerId);
      if (!issuer) throw new Error(`signing worker has no key for authority ${message.issuerId}`);
      // Structured cloning turns Buffers into plain Uint8Arrays; the encoders want Buffers back.
      const facts = {
        ...message.facts,
        spkiDer: Buffer.from(message.facts.spkiDer),
        serial: Buffer.from(message.facts.serial),
        ipAddresses: message.facts.ipAddresses.map((ip) => Buffer.from(ip)),
      };
      response = { id: message.id, signed: signCertificateSync(svidTemplate({ ...facts, issuer: issuer.ref }), issuer.signer) };
    }
  } catch (err) {
    response = { id: message.id, failure: failure(err) };
  }
  port.postMessage(response);
});
