/**
 * Walks the audit log and its checkpoints and names the first thing that does
 * not fit: an event whose hash is wrong (altered), whose previous hash is not
 * its predecessor's (deleted or reordered), a gap in sequence numbers, a
 * checkpoint that does not match the chain or is not validly signed, or a log
 * that ends before its newest checkpoint (tail cut off).
 */
import type { X509Certificate } from 'node:crypto';
import { eventHash, GENESIS_HASH } from './audit-chain.js';
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
}

export async function verifyAuditLog(input: VerificationInput): Promise<VerificationResult> {
  const checkpointsAt = new Map<number, Checkpoint[]>();
  for (const c of input.checkpoints) checkpointsAt.set(c.seq, [...(checkpointsAt.get(c.seq) ?? []), c]);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  let checked = 0;
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
  return { ok: true, events: count, checkpoints: checked, head: count ? { seq: expectedSeq - 1, hash: prevHash } : null };
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
