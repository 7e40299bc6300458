/**
 * The WAL checkpointer thread: copies committed pages from the write-ahead log
 * into the database file on a connection of its own, a PASSIVE checkpoint
 * every interval. PASSIVE takes no writer lock, so commits carry on while it
 * copies and fsyncs; left to SQLite's automatic checkpoint, the commit that
 * crossed the threshold would wait for all of it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from './database.js';
import type { CheckpointerRequest, CheckpointerSettings } from './wal-checkpointer.js';

const { path, intervalMs } = workerData as CheckpointerSettings;
const db = connect(path);
const port = parentPort!;
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), intervalMs);

port.on('message', (message: CheckpointerRequest) => {
  if (message.op !== 'close') return;
  clearInterval(timer);
  db.close();
  port.close();
});
