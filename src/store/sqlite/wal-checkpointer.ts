/**
 * The main thread's handle on the WAL checkpointer thread. While it runs, the
 * connections that commit keep SQLite's automatic checkpoint only as a
 * backstop (BACKSTOP_PAGES): should the thread fall behind or die, the log
 * is still checkpointed and restarted, as it would be without it.
 */
import { Worker } from 'node:worker_threads';
import type { Db } from './database.js';

export interface CheckpointerSettings {
  /** The database file, already migrated. */
  readonly path: string;
  readonly intervalMs: number;
}

export type CheckpointerRequest = { readonly op: 'close' };

/** 16 MiB of log: several seconds of issuance at full speed, far past what one interval adds. */
export const BACKSTOP_PAGES = 4096;

/** Leaves checkpoints of `db` to the checkpointer thread but for the backstop. */
export function checkpointInBackground(db: Db): void {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
}

export class WalCheckpointerThread {
  private readonly worker: Worker;
  private readonly exited: Promise<unknown>;

  /** `workerUrl` is the built wal-checkpointer-worker.js. */
  constructor(workerUrl: URL, settings: CheckpointerSettings) {
    this.worker = new Worker(workerUrl, { workerData: settings });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    // A thread that fails leaves the backstop doing its work; nothing waits on it.
    this.worker.on('error', () => undefined);
  }

  async close(): Promise<void> {
    this.worker.postMessage({ op: 'close' } satisfies CheckpointerRequest);
    await this.exited;
  }
}
