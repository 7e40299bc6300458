/**
 * One group commit of issuances: the certificate rows and their audit events
 * in one IMMEDIATE transaction. The same code runs in the main thread or in
 * the issuance writer thread, on that thread's own connection.
 */
import { performance } from 'node:perf_hooks';
import type { Issuance } from '../issuance-recorder.js';
import { AuditAppender } from './audit-appender.js';
import { prepareCertificateInsert } from './certificate-rows.js';
import type { Db } from './database.js';
import { FIRST_PAUSE_MS, LONGEST_PAUSE_MS, lockHeldElsewhere } from './write-queue.js';

export type IssuanceBatchWriter = (items: readonly Issuance[], at: number) => void;

/** The batch's rows and events, for a transaction the caller holds. */
export function prepareIssuanceWrite(db: Db, audit = new AuditAppender(db)): IssuanceBatchWriter {
  const insert = prepareCertificateInsert(db);
  return (items, at) => {
    for (const { record, event } of items) {
      insert(record);
      audit.append(event, at);
    }
  };
}

/** A batch and how long it may still wait for the write lock (as WriteQueue.inTurnWithin gives it). */
export type IssuanceBatchWriterBy = (items: readonly Issuance[], at: number, waitMs: number) => void;

/**
 * The batch in a transaction of its own, waiting for another connection's
 * lock no longer than `waitMs`: what is left of the wait that began when the
 * main thread asked for the batch (a turn spent behind its own writes counts).
 * SQLite's busy timeout cannot say "until": this connection has none, and a
 * refused BEGIN (which did nothing) is asked again after a pause, as the
 * WriteQueue does, but blocking, on a thread that does nothing else. The
 * uncontended batch costs one flag more than a bare transaction.
 */
export function prepareIssuanceBatchBy(db: Db): IssuanceBatchWriterBy {
  db.pragma('busy_timeout = 0');
  const write = prepareIssuanceWrite(db);
  let began = false;
  // IMMEDIATE: the lock at BEGIN. A deferred transaction that read first could fail with SQLITE_BUSY_SNAPSHOT at its
  // first write (the main thread's connection commits too), which no pause and retry of BEGIN would cure.
  const batch = db.transaction((items: readonly Issuance[], at: number) => {
    began = true;
    write(items, at);
  });
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return (items, at, waitMs) => {
    // Counted from the first refusal (a failed BEGIN takes microseconds): the batch that has the lock reads no clock.
    let deadline: number | undefined;
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(2 * pause, LONGEST_PAUSE_MS)) {
      began = false;
      try {
        batch.immediate(items, at);
        return;
      } catch (err) {
        deadline ??= performance.now() + waitMs;
        const left = deadline - performance.now();
        if (began || !lockHeldElsewhere(err) || left <= 0) throw err;
        Atomics.wait(sleeper, 0, 0, Math.min(pause, left));
      }
    }
  };
}
