/**
 * The main thread's handle on the issuance writer thread. A commit there
 * waits for fsync without blocking HTTP here; the promise settles once the
 * batch is committed (or refused), as the group commit requires. A thread
 * that dies fails what it held, as possibly committed, and is replaced on the
 * next write.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ownedBytes } from '../../platform/thread-bytes.js';
import type { Issuance } from '../issuance-recorder.js';
import { CommitUnconfirmedError } from '../unavailable.js';

export type WriterRequest =
  | { readonly op: 'write'; readonly id: number; readonly items: readonly Issuance[]; readonly at: number; readonly waitMs: number }
  | { readonly op: 'close' };

/** `code` is SQLite's or the file system's (SQLITE_BUSY, ENOSPC): what tells a datastore unable to take changes from a bad item. */
export type WriterResponse = { readonly id: number; readonly error?: string; readonly code?: string };

export interface WriterSettings {
  readonly path: string;
  readonly backgroundCheckpoints: boolean;
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
}

export class IssuanceWriterThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /**
   * `workerUrl` is the built issuance-writer-worker.js; `path` the database
   * file, already migrated; `backgroundCheckpoints` when a WalCheckpointerThread runs.
   */
  constructor(
    private readonly workerUrl: URL,
    private readonly path: string,
    private readonly backgroundCheckpoints = false,
  ) {}

  /** `waitMs`: how long the thread may wait for a write lock another connection holds before it fails the batch SQLITE_BUSY. */
  write(items: readonly Issuance[], at: number, waitMs = Number.POSITIVE_INFINITY): Promise<void> {
    // A write that reaches a closed handle (an issuance queued as the datastore closed) must not start a thread
    // nobody closes: it would commit after the data directory's lock is released and keep the process from exiting.
    if (this.closed) return Promise.reject(new Error('the datastore was closed; the issuance was not recorded'));
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const posted = items.map(({ record, event }) => ({ record: { ...record, certDer: ownedBytes(record.certDer) }, event }));
      worker.postMessage({ op: 'write', id, items: posted, at, waitMs } satisfies WriterRequest);
    });
  }

  /** Lets the thread finish what it was sent, then closes its connection; later writes are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = once(worker, 'exit');
    // Every answer first (a thread that dies meanwhile has failed them all by the time `exited` settles).
    while (this.pending.size > 0) await Promise.race([once(worker, 'message'), exited]);
    this.worker = undefined;
    worker.postMessage({ op: 'close' } satisfies WriterRequest);
    await exited;
  }

  private spawn(): Worker {
    const worker = new Worker(this.workerUrl, { workerData: { path: this.path, backgroundCheckpoints: this.backgroundCheckpoints } satisfies WriterSettings });
    worker.on('message', (response: WriterResponse) => {
      const p = this.pending.get(response.id);
      this.pending.delete(response.id);
      if (response.error === undefined) p?.resolve();
      else p?.reject(Object.assign(new Error(response.error), response.code === undefined ? {} : { code: response.code }));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      // The thread may have died between a commit and its answer: what it held may be recorded, and may not.
      for (const p of this.pending.values()) p.reject(new CommitUnconfirmedError(err));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the issuance writer thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
