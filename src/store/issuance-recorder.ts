/**
 * Records issuances in group-committed batches, for either engine. A batch
 * that cannot be committed is the CA's "store unavailable": the caller hands
 * out no certificate whose record is not durable.
 */
import type { AuditEvent, IssuedCertificateRecord } from '../ca/model.js';
import { StoreBusyError, UnavailableError } from '../errors.js';
import { GroupCommit, type ItemWait } from './group-commit.js';
import { CommitUnconfirmedError } from './unavailable.js';

export interface Issuance {
  readonly record: IssuedCertificateRecord;
  readonly event: AuditEvent;
}

export class IssuanceRecorder {
  private readonly batches: GroupCommit<Issuance>;

  /**
   * `writeBatch` writes the records and their audit events in one transaction,
   * waiting no longer than counted from `since` (when the oldest was asked
   * for); `storeUnavailable` and `wait` (how long an issuance may wait for its
   * batch) are the datastore's.
   */
  constructor(writeBatch: (items: readonly Issuance[], since: number) => void | Promise<void>, storeUnavailable: (err: unknown) => boolean, wait?: ItemWait) {
    this.batches = new GroupCommit(writeBatch, undefined, storeUnavailable, wait);
  }

  async record(record: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    try {
      await this.batches.submit({ record, event });
    } catch (err) {
      // Nothing was recorded and the same request may succeed in a moment: the answer says when (Retry-After).
      if (err instanceof StoreBusyError) throw err;
      // Either way the certificate is not handed out; a record that was made is of a certificate nobody holds.
      const message = err instanceof CommitUnconfirmedError
        ? "the datastore did not confirm the issuance's record (it may have been made); the certificate was not handed out"
        : 'the issuance could not be recorded; no certificate was issued';
      throw new UnavailableError('store_unavailable', message, { cause: err });
    }
  }
}
