/**
 * Walks the audit log and its checkpoints and names the first thing that does
 * not fit: an event whose hash is wrong (altered), whose previous hash is not
 * its predecessor's (deleted or reordered), a gap in sequence numbers, a
 * checkpoint that does not match the chain or is not validly signed, a
 * checkpoint the chain records that is no longer stored, a log that ends before
 * its newest checkpoint (tail cut off), and, given the certificate records, a
 * record that does not match its issuance event (audit-certificates.ts).
 */
import type { X509Certificate } from 'node:crypto';
import { eventHash, GENESIS_HASH } from './audit-chain.js';
import { CertificateRecordCheck, type CertificateRecords } from './audit-certificates.js';
import { checkpointSignatureValid, type Checkpoint } from './audit-checkpoint.js';

export interface StoredEvent {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly dataJson: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface VerificationResult {
  readonly ok: boolean;
  readonly events: number;
  readonly checkpoints: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  /** The first problem found, naming the event or checkpoint. */
  readonly problem?: { readonly seq: number; readonly reason: string };
}

export interface VerificationInput {
  readonly events: Iterable<StoredEvent> | AsyncIterable<StoredEvent>;
  /** In ascending order of seq. */
  readonly checkpoints: readonly Checkpoint[];
  /** Certificate of a checkpoint signer, if it chains to a trusted root; undefined otherwise. */
  readonly signerCertificate: (signerId: string) => X509Certificate | undefined;
  /** The checkpoints as stored now: a running CA may store one while the log is walked. */
  readonly rereadCheckpoints?: () => Promise<readonly Checkpoint[]>;
  /** The issued-certificate records, to hold them to their issuance events; omitted, only the log is verified. */
  readonly certificates?: CertificateRecords;
}

/** The event that records, in the chain itself, that a checkpoint was stored. */
const CHECKPOINT_EVENT = 'audit.checkpoint';

export async function verifyAuditLog(input: VerificationInput): Promise<VerificationResult> {
  const checkpointsAt = new Map<number, Checkpoint[]>();
  for (const c of input.checkpoints) checkpointsAt.set(c.seq, [...(checkpointsAt.get(c.seq) ?? []), c]);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  let checked = 0;
  // The checkpoints table has no hashes of its own: a checkpoint the chain says was stored must still be there,
  // or deleting the checkpoints would let a rewritten log verify.
  let stored = new Set(input.checkpoints.map(checkpointKey));
  const isStored = async (key: string): Promise<boolean> => {
    if (stored.has(key) || !input.rereadCheckpoints) return stored.has(key);
    stored = new Set((await input.rereadCheckpoints()).map(checkpointKey));
    return stored.has(key);
  };
  const records = input.certificates && (await CertificateRecordCheck.start(input.certificates));
  const fail = (seq: number, reason: string): VerificationResult => ({
    ok: false,
    events: count,
    checkpoints: checked,
    head: count ? { seq: expectedSeq - 1, hash: prevHash } : null,
    problem: { seq, reason },
  });

  for await (const e of input.events) {
    if (e.seq !== expectedSeq) {
      return fail(expectedSeq, e.seq > expectedSeq
        ? `event ${expectedSeq} is missing (the next stored event is ${e.seq}): events were deleted`
        : `event ${e.seq} appears after event ${expectedSeq - 1}: events were reordered or duplicated`);
    }
    if (e.prevHash !== prevHash) {
      return fail(e.seq, `event ${e.seq} does not follow event ${e.seq - 1} (its previous-hash differs): the log was changed before it`);
    }
    const recomputed = eventHash({ seq: e.seq, at: e.at, type: e.type, actor: e.actor, dataJson: e.dataJson, prevHash: e.prevHash });
    if (recomputed !== e.hash) return fail(e.seq, `event ${e.seq} (${e.type}) was altered: its content does not match its hash`);
    for (const c of checkpointsAt.get(e.seq) ?? []) {
      checked++;
      if (c.hash !== e.hash) return fail(e.seq, `checkpoint signed at ${iso(c.at)} says event ${e.seq} has hash ${c.hash.slice(0, 12)}…; the log was rewritten`);
      const problem = await signatureProblem(c, input);
      if (problem) return fail(e.seq, problem);
    }
    if (e.type === CHECKPOINT_EVENT) {
      const recorded = JSON.parse(e.dataJson) as { seq?: unknown; hash?: unknown; signer?: unknown; signature?: unknown };
      const key = checkpointKey({ seq: Number(recorded.seq), hash: String(recorded.hash), signerId: String(recorded.signer), signature: String(recorded.signature) });
      if (!(await isStored(key))) {
        return fail(e.seq, `event ${e.seq} records a checkpoint of event ${String(recorded.seq)} that is not among the stored checkpoints: checkpoints were deleted`);
      }
    }
    const recordProblem = await records?.event(e);
    if (recordProblem) return fail(e.seq, recordProblem);
    prevHash = e.hash;
    expectedSeq++;
    count++;
  }
  const beyond = input.checkpoints.filter((c) => c.seq >= expectedSeq);
  if (beyond.length) {
    const newest = beyond[beyond.length - 1]!;
    const problem = await signatureProblem(newest, input);
    return fail(expectedSeq, problem ?? `the log ends at event ${expectedSeq - 1} but a checkpoint signed at ${iso(newest.at)} covers event ${newest.seq}: the tail was cut off`);
  }
  const leftover = records?.finish();
  if (leftover) return fail(expectedSeq, leftover);
  return { ok: true, events: count, checkpoints: checked, head: count ? { seq: expectedSeq - 1, hash: prevHash } : null };
}

function checkpointKey(c: Pick<Checkpoint, 'seq' | 'hash' | 'signerId' | 'signature'>): string {
  return `${c.seq}\n${c.hash}\n${c.signerId}\n${c.signature}`;
}

async function signatureProblem(c: Checkpoint, input: VerificationInput): Promise<string | undefined> {
  const cert = input.signerCertificate(c.signerId);
  if (!cert) return `checkpoint for event ${c.seq} is signed by ${c.signerId}, which does not chain to a trusted root`;
  if (!(await checkpointSignatureValid(c, cert))) return `checkpoint for event ${c.seq} has an invalid signature`;
  return undefined;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
