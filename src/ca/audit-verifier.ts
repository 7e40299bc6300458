/**
 * Walks the audit log and its checkpoints and names the first thing that does
 * not fit: an event whose hash is wrong (altered), whose previous hash is not
 * its predecessor's (deleted or reordered), a gap in sequence numbers, a
 * checkpoint that does not match the chain or is not validly signed, one
 * signed by an intermediate the log had tainted or retired by then, a stored
 * checkpoint of no event number, a
 * checkpoint the chain records that is no longer stored, a log that ends before
 * its newest checkpoint (tail cut off), a log that no longer holds the head
 * an auditor saw before, a workload SVID issued for an entry the log never
 * granted it (audit-entries.ts), and, given the records, a certificate record
 * that does not match its issuance event (audit-certificates.ts) or an
 * authority record the log contradicts or never created (audit-authorities.ts),
 * or a registration record (agent, entry, join token) that is not what the log
 * says it is (audit-registration.ts), or a revoked certificate record that no
 * event revoked, or not at the time or for the reason its event records
 * (audit-revocations.ts).
 */
import type { X509Certificate } from 'node:crypto';
import { eventHash, GENESIS_HASH, type ChainedEventFields } from './audit-chain.js';
import { AuthorityRecordCheck } from './audit-authorities.js';
import { EntryIssuanceCheck } from './audit-entries.js';
import { RegistrationRecordCheck, type RegistrationSnapshot } from './audit-registration.js';
import { RevocationRecordCheck } from './audit-revocations.js';
import { CertificateRecordCheck, type CertificateRecords } from './audit-certificates.js';
import { checkpointSignatureValid, type Checkpoint } from './audit-checkpoint.js';
import type { AuthorityRecord } from './model.js';

/** An event as the log stores it: what its hash covers, and the hash. */
export interface StoredEvent extends ChainedEventFields {
  readonly hash: string;
}

/** An event's data, when it is a JSON object (as every event meshca writes has). */
export function eventObject(e: Pick<StoredEvent, 'dataJson'>): Record<string, unknown> | undefined {
  try {
    const data: unknown = JSON.parse(e.dataJson);
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The head an auditor saw at an earlier verification. Checkpoints live in the
 * datastore, so whoever can cut the log's tail can delete the checkpoints after
 * the cut with it; only a head kept outside the datastore (as Certificate
 * Transparency's and Trillian's verifiers keep theirs) still tells.
 */
export interface ExpectedHead {
  readonly seq: number;
  readonly hash: string;
}

/** An event hash as the log stores and `audit verify` prints it. */
export const EVENT_HASH_PATTERN = /^[0-9a-f]{64}$/;

/** `SEQ:HASH`, the form `audit verify` prints its head in (and `--expect-head` takes). */
export function formatHead(head: ExpectedHead): string {
  return `${head.seq}:${head.hash}`;
}

/** Reads `SEQ:HASH`; throws saying what the text should be. */
export function parseExpectedHead(text: string): ExpectedHead {
  const match = /^([1-9][0-9]*):(.*)$/s.exec(text);
  const seq = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(seq)) throw new Error("expected SEQ:HASH, an event number from 1, a colon and that event's hash, as audit verify prints its head");
  if (!EVENT_HASH_PATTERN.test(match[2]!)) throw new Error('the hash after the colon must be 64 lowercase hex digits, as audit verify prints it');
  return { seq, hash: match[2]! };
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
  /** Whether an authority is recorded at all, to tell a signer whose record was deleted from one that is not trusted. */
  readonly signerRecorded?: (signerId: string) => boolean;
  /** The checkpoints as stored now: a running CA may store one while the log is walked. */
  readonly rereadCheckpoints?: () => Promise<readonly Checkpoint[]>;
  /** The issued-certificate records, to hold them to their issuance events; omitted, only the log is verified. */
  readonly certificates?: CertificateRecords;
  /** A head seen before, which the log must still hold; omitted, a log cut back with its checkpoints goes unnoticed. */
  readonly expectedHead?: ExpectedHead;
  /** The authority records as stored now (read before and after the walk), to hold them to its lifecycle events; omitted, they are not. */
  readonly authorityRecords?: () => Promise<readonly AuthorityRecord[]>;
  /** The registration records and the head they go with, read in one snapshot (before the walk), to hold them to the log; omitted, they are not. */
  readonly registration?: () => Promise<RegistrationSnapshot>;
}

/**
 * Events walked between two turns of the event loop. A CA verifying its own
 * log (POST /v1/audit/verify) walks it in the process that issues: awaiting
 * events the store already holds never lets a timer or a request in, so a
 * log of 100,000 events would stall issuance for seconds.
 */
const EVENTS_PER_TURN = 256;

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
  const authorities = input.authorityRecords && new AuthorityRecordCheck();
  const authoritiesBefore = input.authorityRecords && (await input.authorityRecords());
  const entries = new EntryIssuanceCheck();
  const registration = input.registration && { check: new RegistrationRecordCheck(), revocations: new RevocationRecordCheck(), snapshot: await input.registration() };
  // The registration records and the revoked certificate records, as they stood at the snapshot's head.
  const snapshotProblem = (): { seq: number; reason: string } | undefined => {
    if (!registration) return undefined;
    const { check, revocations, snapshot } = registration;
    const registered = check.compare(snapshot);
    const revoked = revocations.compare(snapshot.revoked, snapshot.headSeq);
    return registered && (!revoked || registered.seq <= revoked.seq) ? registered : revoked;
  };
  const fail = (seq: number, reason: string): VerificationResult => ({
    ok: false,
    // A record's problem is named after the walk, at the event it goes back to: the log verified up to that event.
    events: Math.min(count, seq - 1),
    checkpoints: checked,
    head: count ? { seq: expectedSeq - 1, hash: prevHash } : null,
    problem: { seq, reason },
  });

  // Compared with the log as it stood at the snapshot's head (an empty log: nothing may be recorded), and named after
  // the walk, as the other records are: a log cut or rewritten is the first thing to say.
  let unregistered = registration?.snapshot.headSeq === 0 ? snapshotProblem() : undefined;

  for await (const e of input.events) {
    if (e.seq < 1) return fail(1, `event ${e.seq} is stored, but events are numbered from 1: it was inserted`);
    if (e.seq !== expectedSeq) {
      return fail(expectedSeq, e.seq > expectedSeq
        ? `event ${expectedSeq} is missing (the next stored event is ${e.seq}): events were deleted`
        : `event ${e.seq} appears after event ${expectedSeq - 1}: events were reordered or duplicated`);
    }
    if (e.prevHash !== prevHash) {
      return fail(e.seq, `event ${e.seq} does not follow event ${e.seq - 1} (its previous-hash differs): the log was changed before it`);
    }
    const recomputed = eventHash(e);
    if (recomputed !== e.hash) return fail(e.seq, `event ${e.seq} (${e.type}) was altered: its content does not match its hash`);
    if (e.seq === input.expectedHead?.seq && e.hash !== input.expectedHead.hash) {
      return fail(e.seq, `event ${e.seq} has hash ${e.hash.slice(0, 12)}…, not ${input.expectedHead.hash.slice(0, 12)}… as in the head you expected: the log was rewritten`);
    }
    // Taken in before the checkpoints of this event: one signed over a taint must not come from the tainted key.
    const authorityProblem = authorities?.event(e);
    if (authorityProblem) return fail(e.seq, authorityProblem);
    for (const c of checkpointsAt.get(e.seq) ?? []) {
      checked++;
      if (c.hash !== e.hash) {
        // Only a checkpoint the CA signed says the log was otherwise; one that is not was edited or forged itself.
        const forged = await signatureProblem(c, input);
        return fail(e.seq, forged ?? `checkpoint signed at ${iso(c.at)} says event ${e.seq} has hash ${c.hash.slice(0, 12)}…; the log was rewritten`);
      }
      const taint = authorities?.taintedAt(c.signerId);
      if (taint !== undefined) {
        return fail(e.seq, `checkpoint for event ${e.seq} is signed by ${c.signerId}, which event ${taint} records as tainted: its key is not to be trusted after that`);
      }
      // The CA signs with its active intermediate, chosen after the head is read: never with one the head has seen retire.
      // A retired key stays in the data directory and its backups, so this bounds what one that leaks can vouch for.
      const retired = authorities?.retiredAt(c.signerId);
      if (retired !== undefined) {
        return fail(e.seq, `checkpoint for event ${e.seq} is signed by ${c.signerId}, which event ${retired} records as retired: the CA signs checkpoints with its active intermediate only, so this key signed it outside the CA`);
      }
      const created = authorities?.createdAt(c.signerId);
      if (created !== undefined && input.signerRecorded?.(c.signerId) === false) {
        return fail(e.seq, `checkpoint for event ${e.seq} is signed by ${c.signerId}, which event ${created} created and which is no longer recorded: the authority records were altered (a CA keeps every authority it created, retired ones too)`);
      }
      const problem = await signatureProblem(c, input);
      if (problem) return fail(e.seq, problem);
    }
    if (e.type === CHECKPOINT_EVENT) {
      const recorded = eventObject(e);
      if (!recorded) return fail(e.seq, `event ${e.seq} (${e.type}) records no checkpoint: its data was altered`);
      const key = checkpointKey({ seq: Number(recorded['seq']), hash: String(recorded['hash']), signerId: String(recorded['signer']), signature: String(recorded['signature']) });
      if (!(await isStored(key))) {
        return fail(e.seq, `event ${e.seq} records a checkpoint of event ${String(recorded['seq'])} that is not among the stored checkpoints: checkpoints were deleted`);
      }
    }
    const entryProblem = entries.event(e);
    if (entryProblem) return fail(e.seq, entryProblem);
    const recordProblem = await records?.event(e);
    if (recordProblem) return fail(e.seq, recordProblem);
    const registrationProblem = registration?.check.event(e);
    if (registrationProblem) return fail(e.seq, registrationProblem);
    // Without the certificate records, no record is known to be issued after a revocation: each may be its.
    registration?.revocations.event(e, records ? records.issuedThrough : Number.MAX_SAFE_INTEGER);
    // The records were read as they stood after this event: compared with the log up to it, not with later changes.
    if (e.seq === registration?.snapshot.headSeq) unregistered = snapshotProblem();
    prevHash = e.hash;
    expectedSeq++;
    count++;
    if (count % EVENTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const beyond = input.checkpoints.filter((c) => c.seq >= expectedSeq);
  if (beyond.length) {
    const newest = beyond[beyond.length - 1]!;
    const problem = await signatureProblem(newest, input);
    return fail(expectedSeq, problem ?? `the log ends at event ${expectedSeq - 1} but a checkpoint signed at ${iso(newest.at)} covers event ${newest.seq}: the tail was cut off`);
  }
  // Every other checkpoint was met at its event or is beyond the end; one no event can have would otherwise go unread.
  const stray = input.checkpoints.find((c) => !isEventNumber(c.seq));
  if (stray) {
    return fail(expectedSeq, `a stored checkpoint covers event ${JSON.stringify(stray.seq)}, which no event can be (events are numbered in whole numbers from 1): it was inserted`);
  }
  if (input.expectedHead && input.expectedHead.seq >= expectedSeq) {
    return fail(expectedSeq, `the log ends at event ${expectedSeq - 1} but the head you expected is event ${input.expectedHead.seq}: the tail was cut off`);
  }
  if (registration && registration.snapshot.headSeq >= expectedSeq) {
    return fail(expectedSeq, `the log ends at event ${expectedSeq - 1} but held event ${registration.snapshot.headSeq} when the registration records were read: the tail was cut off`);
  }
  const leftover = records?.finish();
  if (leftover) return fail(expectedSeq, leftover);
  const contradicted = input.authorityRecords && authorities?.finish(authoritiesBefore ?? [], await input.authorityRecords(), expectedSeq);
  if (contradicted) return fail(contradicted.seq, contradicted.reason);
  if (unregistered) return fail(unregistered.seq, unregistered.reason);
  return { ok: true, events: count, checkpoints: checked, head: count ? { seq: expectedSeq - 1, hash: prevHash } : null };
}

/** Whether a stored checkpoint's seq can be an event's: the datastore's rows may hold anything (SQLite keeps text as text). */
export function isEventNumber(seq: unknown): boolean {
  return Number.isSafeInteger(seq) && (seq as number) >= 1;
}

function checkpointKey(c: Pick<Checkpoint, 'seq' | 'hash' | 'signerId' | 'signature'>): string {
  return `${c.seq}\n${c.hash}\n${c.signerId}\n${c.signature}`;
}

async function signatureProblem(c: Checkpoint, input: VerificationInput): Promise<string | undefined> {
  const cert = input.signerCertificate(c.signerId);
  if (!cert) {
    return `checkpoint for event ${c.seq} is signed by ${c.signerId}, which does not chain to a trusted root ` +
      '(after a root rotation, the trust bundle must hold every root you have trusted, earlier ones too)';
  }
  if (!(await checkpointSignatureValid(c, cert))) return `checkpoint for event ${c.seq} has an invalid signature`;
  return undefined;
}

/** A checkpoint's time as the report names it; the datastore's row may hold text or a number past any date, named as stored. */
function iso(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? JSON.stringify(seconds) : date.toISOString();
}
