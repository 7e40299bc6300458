/**
 * The issuance writer thread: commits group-committed issuances on its own
 * SQLite connection, so that the main thread goes on serving requests while
 * a commit waits for fsync. Nothing else in the process writes issuances.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { receivedBytes } from '../../platform/thread-bytes.js';
import type { Issuance } from '../issuance-recorder.js';
import { connect } from './database.js';
import { prepareIssuanceBatchBy } from './issuance-batch.js';
import type { WriterRequest, WriterResponse, WriterSettings } from './issuance-writer.js';
import { checkpointInBackground } from './wal-checkpointer.js';

const settings = workerData as WriterSettings;
const db = connect(settings.path);
if (settings.backgroundCheckpoints) checkpointInBackground(db);
const write = prepareIssuanceBatchBy(db);
const port = parentPort!;

port.on('message', (message: WriterRequest) => {
  if (message.op === 'close') {
    db.close();
    port.close();
    return;
  }
  let response: WriterResponse;
  try {
    // Structured cloning turns Buffers into plain Uint8Arrays; SQLite binds Buffers as BLOBs.
    const items: Issuance[] = message.items.map(({ record, event }) => ({ record: { ...record, certDer: receivedBytes(record.certDer) }, event }));
    write(items, message.at, message.waitMs);
    response = { id: message.id };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    response = { id: message.id, error: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
  }
  port.postMessage(response);
});
