/**
 * The CA key lifecycle as a test drives it: an in-process CA on a FakeClock
 * that can be closed and opened again on the same data directory (a restart),
 * and the journal (authorities table) and audit log read straight from SQLite.
 */
import pino from 'pino';
import { startCa } from '../../src/cli/ca-runtime.js';
import type { Db } from '../../src/store/sqlite/database.js';
import type { Clock } from '../../src/time/clock.js';
import { joinToken, newKeyAndCsr } from './callers.js';
import { cleanupLater } from './cleanup.js';
import { FakeClock } from './fake-clock.js';
import { asTestCa, testConfig, type Settings, type TestCa } from './test-ca.js';

/** A CA whose `close` may be called any number of times (the test's own close, then the cleanup). */
export type LifecycleCa = TestCa;

/**
 * A FakeClock at the current real second plus `offsetSeconds`. TLS stacks
 * (node's client and server, openssl without -attime) check validity against
 * the real clock, so certificates meant to cross a real handshake must be
 * issued when the fake clock is close to real time.
 */
export function clockNearNow(offsetSeconds = 0): FakeClock {
  return new FakeClock((Math.floor(Date.now() / 1000) + offsetSeconds) * 1000);
}

/**
 * Starts a CA in-process with schedules off on `clock`; `settings['data-dir']`
 * reuses a data directory (a restart). Closed when the test (or, from
 * beforeAll, the file) ends, unless the test closed it first.
 */
export async function startLifecycleCa(settings: Settings, clock: Clock): Promise<LifecycleCa> {
  const config = testConfig(settings);
  const running = await startCa(config, pino({ level: process.env.MESHCA_TEST_LOG ?? 'silent' }), { schedules: 'off', clock });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= running.close());
  cleanupLater(close);
  const bundle = await running.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' });
  return { ...asTestCa(running, config, bundle.body), close };
}

/** One row of the authorities table: the lifecycle journal. */
export interface AuthorityRow {
  readonly id: string;
  readonly kind: 'root' | 'intermediate';
  readonly state: 'prepared' | 'active' | 'retired';
  readonly parent_id: string | null;
  readonly not_before: number;
  readonly not_after: number;
  readonly created_at: number;
  readonly activated_at: number | null;
  readonly retired_at: number | null;
}

/** Oldest first; a root before the intermediate made in the same second. */
export function authorityRows(db: Db): AuthorityRow[] {
  return db
    .prepare<[], AuthorityRow>(
      'SELECT id, kind, state, parent_id, not_before, not_after, created_at, activated_at, retired_at FROM authorities ORDER BY created_at, kind DESC, id',
    )
    .all();
}

/** An audit event of the key lifecycle, with its data parsed. */
export interface LifecycleEvent {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly data: Record<string, unknown>;
}

/** Audit events whose type starts with `prefix` (e.g. 'authority.'), in order. */
export function auditEvents(db: Db, prefix: string): LifecycleEvent[] {
  return db
    .prepare<[string], { seq: number; at: number; type: string; actor: string; data: string }>(
      "SELECT seq, at, type, actor, data FROM audit_events WHERE type LIKE ? || '%' ORDER BY seq",
    )
    .all(prefix)
    .map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
}

/** The certificate DER of a journaled authority. */
export function authorityCertDer(db: Db, id: string): Buffer {
  const row = db.prepare<[string], { cert_der: Buffer }>('SELECT cert_der FROM authorities WHERE id = ?').get(id);
  if (!row) throw new Error(`no authority ${id}`);
  return row.cert_der;
}

/** The issuer id recorded for an issued certificate. */
export function issuerOf(db: Db, serial: string): string {
  const row = db.prepare<[string], { issuer_id: string }>('SELECT issuer_id FROM certificates WHERE serial = ?').get(serial);
  if (!row) throw new Error(`no certificate ${serial}`);
  return row.issuer_id;
}

/**
 * Attests agent `name` through inject() (attestation needs no client
 * certificate), so it works whatever the fake clock says; returns the agent's
 * key, chain and serial.
 */
export async function attestInProcess(ca: LifecycleCa, name: string): Promise<{ keyPem: string; chainPem: string; serial: string }> {
  const token = await joinToken(ca, name);
  const { keyPem, csr } = await newKeyAndCsr();
  const res = await ca.localApp.inject({ method: 'POST', url: '/v1/agent/attest', payload: { token, csr } });
  if (res.statusCode !== 200) throw new Error(`attest ${name}: ${res.statusCode} ${res.body}`);
  const svid = res.json<{ svid: { serial: string; svid: string } }>().svid;
  return { keyPem, chainPem: svid.svid, serial: svid.serial };
}
