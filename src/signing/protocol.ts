/** Messages between the main thread and signing workers. Everything in them survives structured cloning. */
import type { KeyObject } from 'node:crypto';
import type { VerifiedCsrData } from '../x509/csr.js';
import type { LeafFacts } from '../x509/svid-encoder.js';

export interface IssuerKey {
  readonly id: string;
  readonly key: KeyObject;
  /** The issuer's subject, DER, as its certificate encodes it. */
  readonly subjectDer: Buffer;
  readonly keyId: Buffer;
}

export type WorkerJob =
  | { readonly op: 'verify'; readonly id: number; readonly pem: string }
  | { readonly op: 'sign'; readonly id: number; readonly issuerId: string; readonly facts: LeafFacts };

/**
 * Jobs travel in batches: every job queued in one turn of the main thread's
 * event loop goes in one message, since a message round trip costs more than
 * a signature.
 */
export type WorkerRequest =
  | { readonly op: 'issuers'; readonly issuers: readonly IssuerKey[] }
  | { readonly op: 'jobs'; readonly jobs: readonly WorkerJob[] };

/** A refusal the worker raised for bad input (an InvalidInputError), or anything else. */
export type WorkerFailure =
  | { readonly kind: 'invalid'; readonly code: string; readonly message: string }
  | { readonly kind: 'internal'; readonly message: string };

/** One per job, in a message answering the whole batch. */
export type WorkerResponse =
  | { readonly id: number; readonly verified: VerifiedCsrData }
  | { readonly id: number; readonly signed: Buffer }
  | { readonly id: number; readonly failure: WorkerFailure };
