/** Appends events to the hash-chained audit log; must run inside the caller's transaction. */
import { canonicalJson, eventHash, GENESIS_HASH } from '../../ca/audit-chain.js';
import type { AuditEvent } from '../../ca/model.js';
import type { Db } from './database.js';

export class AuditAppender {
  private readonly head;
  private readonly insert;

  constructor(db: Db) {
    this.head = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    this.insert = db.prepare(
      'INSERT INTO audit_events (seq, at, type, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** Returns the new event's sequence number. */
  append(event: AuditEvent, at: number): number {
    const last = this.head.get();
    const seq = (last?.seq ?? 0) + 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const dataJson = canonicalJson(event.data);
    const hash = eventHash({ seq, at, type: event.type, actor: event.actor, dataJson, prevHash });
    this.insert.run(seq, at, event.type, event.actor, dataJson, prevHash, hash);
    return seq;
  }
}
