/**
 * The SQLite datastore, on a real database in a temporary directory: how it is
 * opened, and the hash-chained, append-only audit log its writes produce.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { canonicalJson, eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import type { AuditEvent, AuthorityRecord, IssuedCertificateRecord } from '../../src/ca/model.js';
import { UnavailableError } from '../../src/errors.js';
import { DATABASE_FILE, openDatabase } from '../../src/store/sqlite/database.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { openSqliteDatastore, type SqliteDatastore } from '../../src/store/sqlite/datastore.js';
import { FakeClock } from '../support/fake-clock.js';
import { tempDir } from '../support/temp-dir.js';

interface AuditRow {
  seq: number;
  at: number;
  type: string;
  actor: string;
  data: string;
  prev_hash: string;
  hash: string;
}

function openStore(clock = new FakeClock()): { store: SqliteDatastore; clock: FakeClock; dir: string } {
  const dir = tempDir();
  const store = openSqliteDatastore(dir, clock);
  onTestFinished(() => {
    if (store.db.open) store.close();
  });
  return { store, clock, dir };
}

function auditRows(store: SqliteDatastore): AuditRow[] {
  return store.db.prepare<[], AuditRow>('SELECT * FROM audit_events ORDER BY seq').all();
}

/**
 * Walks the log as `meshca audit verify` would, recomputing every hash.
 * Returns one line per broken link, so a good chain is [].
 */
function chainBreaks(rows: readonly AuditRow[]): string[] {
  const breaks: string[] = [];
  let prevHash = GENESIS_HASH;
  rows.forEach((row, i) => {
    if (row.seq !== i + 1) breaks.push(`row ${i}: seq ${row.seq}, expected ${i + 1}`);
    if (row.prev_hash !== prevHash) breaks.push(`seq ${row.seq}: prev_hash does not match the previous hash`);
    const recomputed = eventHash({ seq: row.seq, at: row.at, type: row.type, actor: row.actor, dataJson: row.data, prevHash: row.prev_hash });
    if (row.hash !== recomputed) breaks.push(`seq ${row.seq}: hash does not match its content`);
    prevHash = row.hash;
  });
  return breaks;
}

function issued(serial: string, at = 0): { record: IssuedCertificateRecord; event: AuditEvent } {
  const record: IssuedCertificateRecord = {
    serial,
    spiffeId: 'spiffe://example.org/w',
    dnsNames: ['w.example.org'],
    notBefore: at - 30,
    notAfter: at + 3600,
    publicKeySha256: 'ab'.repeat(32),
    keyType: 'ec-p256',
    issuerId: 'cd'.repeat(20),
    kind: 'workload',
    requestedBy: 'agent:node-1',
    agent: 'node-1',
    entryId: null,
    issuedAt: at,
    certDer: Buffer.from(`certificate ${serial}`),
  };
  return { record, event: { type: 'certificate.issued', actor: record.requestedBy, data: { serial, spiffeId: record.spiffeId } } };
}

function authority(id: string, state: AuthorityRecord['state']): AuthorityRecord {
  return {
    id,
    kind: 'root',
    state,
    parentId: null,
    certDer: Buffer.from(`root ${id}`),
    upstreamChainDer: [Buffer.from('upstream')],
    notBefore: 1_000,
    notAfter: 2_000,
    keyRef: id,
    createdAt: 1_000,
    activatedAt: state === 'active' ? 1_000 : null,
    retiredAt: null,
    taintedAt: null,
  };
}

describe('openDatabase', () => {
  it('creates the datastore in WAL mode with full fsync, foreign keys on and every migration applied', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const { db, created, path } = openDatabase(dir);
    onTestFinished(() => {
      db.close();
    });
    expect(created).toBe(true);
    expect(path).toBe(join(dir, DATABASE_FILE));
    expect(existsSync(path)).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['audit_events', 'authorities', 'ca_state', 'certificates']));
  });

  it('reopens an existing datastore without migrating it again', () => {
    const dir = tempDir();
    openDatabase(dir).db.close();
    const again = openDatabase(dir);
    onTestFinished(() => {
      again.db.close();
    });
    expect(again.created).toBe(false);
    expect(again.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(again.db.prepare("SELECT count(*) AS n FROM ca_state WHERE name = 'bundle_sequence'").get()).toEqual({ n: 1 });
  });

  it('refuses a datastore from a newer meshca', () => {
    const dir = tempDir();
    const first = openDatabase(dir);
    first.db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    first.db.close();
    expect(() => openDatabase(dir)).toThrow(
      `the datastore is at schema version ${MIGRATIONS.length + 1}, newer than this meshca (${MIGRATIONS.length}); upgrade meshca`,
    );
  });

  it('refuses to open a missing datastore read-only, and creates nothing', () => {
    const dir = tempDir();
    expect(() => openDatabase(dir, { readonly: true })).toThrow(`no meshca datastore at ${join(dir, DATABASE_FILE)}`);
    expect(existsSync(join(dir, DATABASE_FILE))).toBe(false);
  });

  it('opens an existing datastore read-only so that it cannot be written', () => {
    const dir = tempDir();
    openDatabase(dir).db.close();
    const { db } = openDatabase(dir, { readonly: true });
    onTestFinished(() => {
      db.close();
    });
    expect(() => db.prepare("UPDATE ca_state SET value = 1 WHERE name = 'bundle_sequence'").run()).toThrow(/readonly/);
  });
});

describe('SqliteStore audit log', () => {
  it('chains every event to the one before, from the genesis hash', async () => {
    const { store, clock } = openStore();
    await store.audit.append({ type: 'ca.started', actor: 'meshca', data: { version: '0.1.0' } });
    clock.advance(5);
    await store.certificates.recordIssued(issued('01').record, issued('01').event);
    clock.advance(5);
    await store.authorities.applyAuthorityChange({
      upserts: [authority('aa', 'active')],
      bundleSequence: 1,
      events: [
        { type: 'authority.created', actor: 'meshca', data: { id: 'aa' } },
        { type: 'authority.activated', actor: 'meshca', data: { id: 'aa' } },
      ],
    });
    const rows = auditRows(store);
    expect(rows.map((r) => [r.seq, r.type])).toEqual([
      [1, 'ca.started'],
      [2, 'certificate.issued'],
      [3, 'authority.created'],
      [4, 'authority.activated'],
    ]);
    expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(chainBreaks(rows)).toEqual([]);
  });

  it('stores the time from the clock and the data as canonical JSON', async () => {
    const { store, clock } = openStore();
    const data = { zeta: 1, alpha: { b: [2, { d: 4, c: 3 }], a: null }, skipped: undefined };
    await store.audit.append({ type: 't', actor: 'operator:alice', data });
    const [row] = auditRows(store);
    expect(row).toMatchObject({ seq: 1, at: clock.nowSeconds(), actor: 'operator:alice', data: canonicalJson(data) });
    expect(row!.data).toBe('{"alpha":{"a":null,"b":[2,{"c":3,"d":4}]},"zeta":1}');
  });

  it('chains the events of issuances committed together in one batch', async () => {
    const { store } = openStore();
    await Promise.all(['01', '02', '03'].map((s) => store.certificates.recordIssued(issued(s).record, issued(s).event)));
    const rows = auditRows(store);
    expect(rows.map((r) => JSON.parse(r.data).serial)).toEqual(['01', '02', '03']);
    expect(chainBreaks(rows)).toEqual([]);
    expect(store.db.prepare('SELECT serial FROM certificates ORDER BY id').all()).toEqual([
      { serial: '01' }, { serial: '02' }, { serial: '03' },
    ]);
  });

  it('keeps the chain whole when one issuance of a batch fails: only that one is refused and unrecorded', async () => {
    const { store } = openStore();
    await store.certificates.recordIssued(issued('01').record, issued('01').event);
    const outcomes = await Promise.all(
      ['02', '01', '03'].map((s) => store.certificates.recordIssued(issued(s).record, issued(s).event).then(() => 'ok', (e: unknown) => e)),
    );
    expect(outcomes[0]).toBe('ok');
    expect(outcomes[1]).toBeInstanceOf(UnavailableError);
    expect(outcomes[1]).toMatchObject({ code: 'store_unavailable' });
    expect(outcomes[2]).toBe('ok');
    const rows = auditRows(store);
    expect(rows.map((r) => JSON.parse(r.data).serial)).toEqual(['01', '02', '03']);
    expect(chainBreaks(rows)).toEqual([]);
    expect(store.db.prepare('SELECT count(*) AS n FROM certificates').get()).toEqual({ n: 3 });
  });

  it('continues the chain across a reopen', async () => {
    const { store, dir } = openStore();
    await store.audit.append({ type: 'first', actor: 'meshca', data: {} });
    store.close();
    const reopened = openSqliteDatastore(dir, new FakeClock());
    onTestFinished(() => {
      reopened.close();
    });
    await reopened.audit.append({ type: 'second', actor: 'meshca', data: {} });
    const rows = auditRows(reopened);
    expect(rows.map((r) => r.type)).toEqual(['first', 'second']);
    expect(chainBreaks(rows)).toEqual([]);
  });

  it('lets the chain check catch an edited event (the check can fail)', async () => {
    const { store } = openStore();
    await store.audit.append({ type: 'a', actor: 'meshca', data: {} });
    await store.audit.append({ type: 'b', actor: 'meshca', data: {} });
    const rows = auditRows(store);
    rows[0] = { ...rows[0]!, actor: 'someone else' };
    expect(chainBreaks(rows)).toEqual(['seq 1: hash does not match its content']);
  });

  it.each<[string, string]>([
    ['UPDATE', "UPDATE audit_events SET actor = 'mallory'"],
    ['DELETE', 'DELETE FROM audit_events'],
    ['UPDATE of the hash', "UPDATE audit_events SET hash = 'x' WHERE seq = 1"],
    ['DELETE of the last event', 'DELETE FROM audit_events WHERE seq = 2'],
  ])('refuses %s on audit_events and leaves the log unchanged', async (_name, sql) => {
    const { store } = openStore();
    await store.audit.append({ type: 'a', actor: 'meshca', data: {} });
    await store.audit.append({ type: 'b', actor: 'meshca', data: {} });
    const before = auditRows(store);
    expect(() => store.db.prepare(sql).run()).toThrow('the audit log is append-only');
    expect(auditRows(store)).toEqual(before);
  });

  it('keeps the triggers for a connection that did not create them', async () => {
    const { store, dir } = openStore();
    await store.audit.append({ type: 'a', actor: 'meshca', data: {} });
    const other = new Database(join(dir, DATABASE_FILE));
    onTestFinished(() => {
      other.close();
    });
    expect(() => other.prepare('DELETE FROM audit_events').run()).toThrow('the audit log is append-only');
  });
});

describe('SqliteStore authorities', () => {
  it('round-trips an authority change and updates only the state fields of an existing one', async () => {
    const { store } = openStore();
    const prepared = authority('aa', 'prepared');
    await store.authorities.applyAuthorityChange({ upserts: [prepared], bundleSequence: 1, events: [] });
    expect(await store.authorities.listAuthorities()).toEqual([prepared]);
    expect(await store.authorities.bundleSequence()).toBe(1);

    const active = { ...prepared, state: 'active' as const, activatedAt: 1_500, certDer: Buffer.from('ignored'), notAfter: 9_999 };
    await store.authorities.applyAuthorityChange({ upserts: [active], bundleSequence: 2, events: [] });
    expect(await store.authorities.listAuthorities()).toEqual([{ ...prepared, state: 'active', activatedAt: 1_500 }]);
    expect(await store.authorities.bundleSequence()).toBe(2);
  });

  it('commits nothing of a change that fails part-way, audit events included', async () => {
    const { store } = openStore();
    const bad = { ...authority('bb', 'active'), kind: 'leaf' as unknown as AuthorityRecord['kind'] };
    await expect(
      store.authorities.applyAuthorityChange({
        upserts: [authority('aa', 'active'), bad],
        bundleSequence: 7,
        events: [{ type: 'authority.created', actor: 'meshca', data: {} }],
      }),
    ).rejects.toThrow(/CHECK constraint failed/);
    expect(await store.authorities.listAuthorities()).toEqual([]);
    expect(await store.authorities.bundleSequence()).toBe(0);
    expect(auditRows(store)).toEqual([]);
  });
});
