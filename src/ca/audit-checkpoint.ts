/**
 * Signed checkpoints of the audit log's head. A chain of hashes shows that no
 * event inside it was changed; a checkpoint signed by the CA also shows that
 * the log once reached (sequence, hash), so a log whose tail was cut off or
 * rewritten after that point no longer matches.
 */
import type { X509Certificate } from 'node:crypto';
import { verifyAsync } from '../x509/signer.js';
import type { Signer } from '../x509/signer.js';
import { defaultSignatureAlgorithm } from '../x509/signature-algorithms.js';
import { kindOf } from '../x509/keys.js';

export interface CheckpointBody {
  /** Sequence number of the last event covered. */
  readonly seq: number;
  /** That event's hash. */
  readonly hash: string;
  /** When it was signed, seconds since the epoch. */
  readonly at: number;
}

export interface Checkpoint extends CheckpointBody {
  /** Id of the authority whose key signed it. */
  readonly signerId: string;
  /** DER signature (base64) over checkpointMessage(body). */
  readonly signature: string;
}

export function checkpointMessage(body: CheckpointBody): Buffer {
  return Buffer.from(`meshca-audit-checkpoint/v1\n${body.seq}\n${body.hash}\n${body.at}\n`, 'utf8');
}

export async function signCheckpoint(body: CheckpointBody, signer: Signer, signerId: string): Promise<Checkpoint> {
  const signature = await signer.sign(checkpointMessage(body));
  return { ...body, signerId, signature: signature.toString('base64') };
}

export async function checkpointSignatureValid(checkpoint: Checkpoint, signerCert: X509Certificate): Promise<boolean> {
  const key = signerCert.publicKey;
  try {
    return await verifyAsync(defaultSignatureAlgorithm(kindOf(key)), checkpointMessage(checkpoint), key, Buffer.from(checkpoint.signature, 'base64'));
  } catch {
    return false;
  }
}

