/**
 * The built `meshca server`, committing issuances on its writer thread (the
 * default, named here), while another connection holds the embedded
 * datastore's write lock as an operator's `sqlite3` with `BEGIN IMMEDIATE`
 * open would: health checks over TLS are answered at once, an issuance is
 * refused with a retryable 503 within the one wait and records nothing,
 * readiness (which then probes a write) answers at once though an issuance
 * waits ahead of it, and the same issuance succeeds and is recorded once the
 * lock is free. The in-process test CA cannot run the built writer thread;
 * this can.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DATABASE_FILE } from '../../src/store/sqlite/database.js';
import { LOCK_WAIT_MS } from '../../src/store/sqlite/write-queue.js';
import { newKeyAndCsr } from '../support/callers.js';
import { callHttps, callOverSocket, getOverSocket } from '../support/http-client.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

/** Far under the lock's wait; far over a TLS handshake on a busy machine. */
const PROMPT_MS = 1500;

/** The wait, and room for a loaded machine: the answer must come well before a second wait would end. */
const REFUSED_WITHIN_MS = LOCK_WAIT_MS + 3000;

const SPIFFE_ID = 'spiffe://example.org/ns/locked';

async function startCa(): Promise<{ server: ServerProcess; dataDir: string }> {
  const dataDir = tempDir();
  const server = await startServer(['--data-dir', dataDir, '--trust-domain', 'example.org', '--sqlite-writer', 'thread']);
  onTestFinished(async () => {
    expect(await server.stop()).toBe(0);
  });
  return { server, dataDir };
}

/** A second connection to the CA's database, as sqlite3 would open it. */
function otherConnection(dataDir: string): Database.Database {
  const other = new Database(join(dataDir, DATABASE_FILE));
  onTestFinished(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  });
  return other;
}

describe('meshca server while another connection holds the datastore write lock', () => {
  it('answers health and readiness checks at once, refuses an issuance with 503 store_unavailable and Retry-After within the wait, recording nothing, and issues it once the lock is free', async () => {
    const { server, dataDir } = await startCa();
    const bundle = (await getOverSocket(server.socketPath, '/v1/bundle.pem')).body;
    const { csr } = await newKeyAndCsr();
    const mint = () => callOverSocket(server.socketPath, 'POST', '/v1/svids/mint', { spiffeId: SPIFFE_ID, csr });
    const other = otherConnection(dataDir);
    const recorded = () => (other.prepare('SELECT COUNT(*) AS n FROM certificates WHERE spiffe_id = ?').get(SPIFFE_ID) as { n: number }).n;
    const events = () => (other.prepare('SELECT COUNT(*) AS n FROM audit_events').get() as { n: number }).n;

    other.exec('BEGIN IMMEDIATE');
    const eventsBefore = events();
    const asked = performance.now();
    let answeredAt: number | undefined;
    const issuance = mint().finally(() => (answeredAt = performance.now()));

    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const health = await callHttps(server.url, { path: '/healthz', ca: bundle });
      expect({ status: health.status, prompt: performance.now() - started < PROMPT_MS, issuanceWaiting: answeredAt === undefined }).toEqual({
        status: 200, prompt: true, issuanceWaiting: true,
      });
    }

    const refused = await issuance;
    expect({
      status: refused.status,
      retryAfter: refused.headers['retry-after'],
      code: JSON.parse(refused.body).error.code,
      withinTheWait: answeredAt! - asked < REFUSED_WITHIN_MS,
      recorded: recorded(),
      events: events(),
    }).toEqual({ status: 503, retryAfter: '1', code: 'store_unavailable', withinTheWait: true, recorded: 0, events: eventsBefore });

    // Readiness now probes a write (an issuance failed to record): 250 ms, even behind an issuance waiting for the lock.
    const waiting = mint();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const probed = performance.now();
    const readiness = await getOverSocket(server.socketPath, '/readyz');
    expect({ status: readiness.status, prompt: performance.now() - probed < PROMPT_MS }).toEqual({ status: 503, prompt: true });

    other.exec('ROLLBACK');
    expect({ waitedThenIssued: (await waiting).status, issuedAfter: (await mint()).status, recorded: recorded() }).toEqual({ waitedThenIssued: 200, issuedAfter: 200, recorded: 2 });
    expect((await getOverSocket(server.socketPath, '/readyz')).status).toBe(200);
  }, 30_000);
});
