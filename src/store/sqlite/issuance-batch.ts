/**
 * One group commit of issuances: the certificate rows and their audit events
 * in one IMMEDIATE transaction. The same code runs in the main thread or in
 * the issuance writer thread, on that thread's own connection.
 */
import type { Issuance } from '../issuance-recorder.js';
import { AuditAppender } from './audit-appender.js';
import { prepareCertificateInsert } from './certificate-rows.js';
import { writeTransaction, type Db } from './database.js';

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

/** The batch in a transaction of its own (the writer thread's, whose connection waits out other connections' locks). */
export function prepareIssuanceBatch(db: Db): IssuanceBatchWriter {
  return writeTransaction(db, prepareIssuanceWrite(db));
}
