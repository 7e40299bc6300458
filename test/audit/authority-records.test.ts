/**
 * The authority records held to the lifecycle events of the audit log: an
 * intermediate the log says was tainted, or retired, cannot be put back to
 * signing by editing the datastore, nor an authority the log created be
 * removed or given another certificate, kind (an intermediate made a root),
 * parent, validity or key custody, nor moved to a state no event moved it
 * to, or marked tainted, nor one the log never created be added (a root of
 * someone else's, which a restarted CA would put in the trust bundle),
 * without `meshca audit verify` (over the API, and --db) naming the event
 * the records now contradict. Every lifecycle flow leaves records that
 * verify.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthorityRecordCheck } from '../../src/ca/audit-authorities.js';
import { signCheckpoint } from '../../src/ca/audit-checkpoint.js';
import { verifyStoredAudit } from '../../src/ca/audit-service.js';
import type { StoredEvent } from '../../src/ca/audit-verifier.js';
import type { AuthorityRecord } from '../../src/ca/model.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { mintCredential } from '../support/callers.js';
import type { Db } from '../../src/store/sqlite/database.js';
import { copyDatastore, dropAppendOnlyTriggers, eventRow, rechainFrom, verifyOverApi } from '../support/audit-log.js';
import type { FakeClock } from '../support/fake-clock.js';
import { auditEvents, clockNearNow, startLifecycleCa, type LifecycleCa } from '../support/lifecycle-ca.js';
import { selfSigned, signedCa, type KeyPairFiles } from '../support/openssl-pki.js';
import { mintSvid } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';

const WEB = 'spiffe://example.org/ns/prod/sa/web';

/** Intermediates of an hour: the next is prepared at 30 minutes and signs from 50. */
const SCHEDULE = { 'intermediate-ttl': '60m', 'svid-max-ttl': '10m', 'svid-ttl': '5m' };

/** A CA whose first intermediate retired on schedule and whose second was then tainted, with a signed checkpoint after. */
async function caWithHistory() {
  const clock = clockNearNow();
  const ca = await startLifecycleCa(SCHEDULE, clock);
  const first = ca.manager.current().activeIntermediate()!.record.id;
  // Past the activation point: the next intermediate signs, the first retires.
  clock.advance(51 * 60);
  await ca.tick();
  const second = ca.manager.current().activeIntermediate()!.record.id;
  await mintSvid(ca.localApp, WEB);
  expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${second}/taint` })).statusCode).toBe(200);
  // The taint revoked the CA's serving certificate, reissued in the background with an event of its own: the
  // lifecycle check waits for that renewal, so that the head read below is the log's last event.
  await ca.tick();
  await ca.core.audit.checkpoint();
  const seqOf = (type: string, id: string) => auditEvents(ca.store.db, type).find((e) => e.data.id === id)!.seq;
  const checkpoint = ca.store.db.prepare('SELECT seq, signer_id AS signer FROM audit_checkpoints ORDER BY id DESC LIMIT 1').get() as { seq: number; signer: string };
  const head = (ca.store.db.prepare('SELECT MAX(seq) AS seq FROM audit_events').get() as { seq: number }).seq;
  const root = ca.manager.current().signingRoot()!.record.id;
  // The taint's replacement, which signs now.
  const third = ca.manager.current().activeIntermediate()!.record.id;
  return {
    ca,
    root,
    first,
    second,
    third,
    retiredAt: seqOf('authority.retired', first),
    taintedAt: seqOf('authority.tainted', second),
    /** The time the second intermediate's record says it was tainted. */
    taintTime: (ca.store.db.prepare('SELECT tainted_at AS at FROM authorities WHERE id = ?').get(second) as { at: number }).at,
    createdAt: seqOf('authority.created', first),
    rootCreatedAt: seqOf('authority.created', root),
    /** The latest lifecycle event of the signing intermediate, "SEQ (TYPE)". */
    thirdLatest: ((e) => `${e.seq} (${e.type})`)(auditEvents(ca.store.db, 'authority.').filter((e) => e.data.id === third).at(-1)!),
    checkpoint: { ...checkpoint, createdAt: seqOf('authority.created', checkpoint.signer) },
    head,
  };
}

type History = Awaited<ReturnType<typeof caWithHistory>>;

describe('authority records against the log', () => {
  it('pass/untouched, they agree with it', async () => {
    const { ca } = await caWithHistory();
    expect((await verifyOverApi(ca)).ok).toBe(true);
  });

  it.each<[string, (db: Db, h: History) => void, (h: History) => number, (h: History) => string | RegExp]>([
    [
      'a tainted intermediate made active again',
      (db, h) => db.prepare("UPDATE authorities SET state = 'active', tainted_at = NULL, retired_at = NULL WHERE id = ?").run(h.second),
      (h) => h.taintedAt,
      (h) => `event ${h.taintedAt} records that intermediate ${h.second} was tainted, but its record no longer says so: the authority records were altered`,
    ],
    [
      'a tainted intermediate\'s taint time moved a day back (its parent\'s CRL gives it as the revocation date)',
      (db, h) => db.prepare('UPDATE authorities SET tainted_at = tainted_at - 86400 WHERE id = ?').run(h.second),
      (h) => h.taintedAt,
      (h) => `event ${h.taintedAt} records that intermediate ${h.second} was tainted at ${h.taintTime}, but it is recorded as tainted at ${h.taintTime - 86400}: ` +
        'the authority records were altered',
    ],
    [
      'a retired intermediate made active again',
      (db, h) => db.prepare("UPDATE authorities SET state = 'active', retired_at = NULL WHERE id = ?").run(h.first),
      (h) => h.retiredAt,
      (h) => `event ${h.retiredAt} records that authority ${h.first} retired, but it is recorded as active: the authority records were altered`,
    ],
    [
      'a created authority removed',
      (db, h) => {
        db.pragma('foreign_keys = OFF');
        db.prepare('DELETE FROM authorities WHERE id = ?').run(h.first);
      },
      (h) => h.createdAt,
      (h) => `event ${h.createdAt} records the creation of authority ${h.first}, which is no longer recorded: the authority records were altered`,
    ],
    [
      'the authority that signed a checkpoint removed',
      (db, h) => {
        db.pragma('foreign_keys = OFF');
        db.prepare('DELETE FROM authorities WHERE id = ?').run(h.checkpoint.signer);
      },
      (h) => h.checkpoint.seq,
      (h) =>
        `checkpoint for event ${h.checkpoint.seq} is signed by ${h.checkpoint.signer}, which event ${h.checkpoint.createdAt} created and which is no longer recorded: ` +
        'the authority records were altered (a CA keeps every authority it created, retired ones too)',
    ],
    [
      'a created authority given another certificate (its root’s)',
      (db, h) => db.prepare("UPDATE authorities SET cert_der = (SELECT cert_der FROM authorities WHERE kind = 'root') WHERE id = ?").run(h.first),
      (h) => h.createdAt,
      (h) => `event ${h.createdAt} records the creation of authority ${h.first} with another certificate than the one recorded now (their SHA-256 differ): the authority records were altered`,
    ],
    [
      'a created authority given bytes that are no certificate (read before the walk, they had failed the whole verification)',
      (db, h) => db.prepare("UPDATE authorities SET cert_der = x'00' WHERE id = ?").run(h.first),
      (h) => h.createdAt,
      (h) => `event ${h.createdAt} records the creation of authority ${h.first} with another certificate than the one recorded now (their SHA-256 differ): the authority records were altered`,
    ],
    [
      'a created authority given a value that is no bytes at all (an integer, which SQLite keeps in a BLOB column)',
      (db, h) => db.prepare('UPDATE authorities SET cert_der = 5 WHERE id = ?').run(h.first),
      (h) => h.createdAt,
      (h) => `event ${h.createdAt} records the creation of authority ${h.first} with another certificate than the one recorded now (their SHA-256 differ): the authority records were altered`,
    ],
    [
      'an intermediate recorded as a root (a restarted CA would put it in the trust bundle and make intermediates under it)',
      (db) => db.prepare("UPDATE authorities SET kind = 'root' WHERE kind = 'intermediate'").run(),
      (h) => h.createdAt,
      (h) => `event ${h.createdAt} records the creation of authority ${h.first} with kind "intermediate", but it is recorded with "root": the authority records were altered`,
    ],
    [
      'an intermediate recorded without its parent',
      (db, h) => db.prepare('UPDATE authorities SET parent_id = NULL WHERE id = ?').run(h.first),
      (h) => h.createdAt,
      (h) => `event ${h.createdAt} records the creation of authority ${h.first} with parent "${h.root}", but it is recorded with null: the authority records were altered`,
    ],
    [
      'an intermediate recorded as valid for a day longer than its certificate',
      (db, h) => db.prepare('UPDATE authorities SET not_after = not_after + 86400 WHERE id = ?').run(h.first),
      (h) => h.createdAt,
      (h) => new RegExp(`^event ${h.createdAt} records the creation of authority ${h.first} with notAfter \\d+, but it is recorded with \\d+: the authority records were altered$`),
    ],
    [
      'the root recorded as one whose key meshca does not hold',
      (db, h) => db.prepare('UPDATE authorities SET key_ref = NULL WHERE id = ?').run(h.root),
      (h) => h.rootCreatedAt,
      (h) => `event ${h.rootCreatedAt} records the creation of authority ${h.root} with keyHeld true, but it is recorded with false: the authority records were altered`,
    ],
    [
      'the root recorded as retired, which no event retired (the CA then refuses to start)',
      (db) => db.prepare("UPDATE authorities SET state = 'retired' WHERE kind = 'root'").run(),
      (h) => h.rootCreatedAt,
      (h) => `event ${h.rootCreatedAt} (authority.created) leaves authority ${h.root} active, but it is recorded as retired: the authority records were altered`,
    ],
    [
      'the signing intermediate recorded as prepared again',
      (db, h) => db.prepare("UPDATE authorities SET state = 'prepared', activated_at = NULL WHERE id = ?").run(h.third),
      (h) => Number(h.thirdLatest.split(' ')[0]),
      (h) => `event ${h.thirdLatest} leaves authority ${h.third} active, but it is recorded as prepared: the authority records were altered`,
    ],
    [
      'the signing intermediate recorded in a state meshca has none of',
      (db, h) => {
        // The table's CHECK refuses it: the table is rebuilt without.
        db.pragma('foreign_keys = OFF');
        db.exec('CREATE TABLE unchecked AS SELECT * FROM authorities; DROP TABLE authorities; ALTER TABLE unchecked RENAME TO authorities');
        db.prepare("UPDATE authorities SET state = 'dormant' WHERE id = ?").run(h.third);
      },
      (h) => Number(h.thirdLatest.split(' ')[0]),
      (h) => `event ${h.thirdLatest} leaves authority ${h.third} active, but it is recorded as dormant: the authority records were altered`,
    ],
    [
      'a retired intermediate recorded as tainted, which no event tainted (its SVIDs would be revoked at the next start)',
      (db, h) => db.prepare('UPDATE authorities SET tainted_at = retired_at WHERE id = ?').run(h.first),
      (h) => h.retiredAt,
      (h) => `authority ${h.first} is recorded as tainted, but no event of the log tainted it: the authority records were altered`,
    ],
    [
      'a root the log never created added (a copy of the real one under another id)',
      (db) => db.prepare("INSERT INTO authorities SELECT 'ab' || substr(id, 3), kind, state, parent_id, cert_der, upstream_chain, not_before, not_after, NULL, created_at, activated_at, retired_at, NULL FROM authorities WHERE kind = 'root'").run(),
      (h) => h.head + 1,
      () => /^root ab[0-9a-f]{38} is recorded, but no event of the log created it: the authority records were altered$/,
    ],
  ])('fail/%s: named at the event it contradicts, over the API and offline', async (_name, tamper, problemAt, reason) => {
    const history = await caWithHistory();
    tamper(history.ca.store.db, history);
    const result = await verifyOverApi(history.ca);
    const expected = reason(history);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: false, problem: { seq: problemAt(history), reason: typeof expected === 'string' ? expected : expect.stringMatching(expected) } });
    expect(await verifyDatastoreFile(copyDatastore(history.ca.store.db, tempDir()))).toEqual(result);
  });
});

/** Root rotation as root-rotation.test.ts runs it: a 10-minute propagation wait, short SVIDs. */
const ROTATION = { 'root-propagation': '10m', 'svid-ttl': '5m' };
const PROPAGATION = 600;

async function rootCommand(ca: LifecycleCa, command: string, body?: object): Promise<void> {
  const res = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${command}`, ...(body ? { payload: body } : {}) });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

async function taint(ca: LifecycleCa, id: string): Promise<void> {
  expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${id}/taint` })).statusCode).toBe(200);
}

/** A CA a second old (the operator acts after its creation) with a new root prepared. */
async function rootPrepared(clock: FakeClock): Promise<LifecycleCa> {
  const ca = await startLifecycleCa(ROTATION, clock);
  clock.advance(1);
  await rootCommand(ca, 'prepare');
  return ca;
}

/** Then an SVID under the old root, and the new one activated at once. */
async function forcedActivation(clock: FakeClock): Promise<LifecycleCa> {
  const ca = await rootPrepared(clock);
  await mintSvid(ca.localApp, WEB);
  await rootCommand(ca, 'activate', { force: true });
  return ca;
}

/** The same CA started again on its data directory. */
async function restarted(ca: LifecycleCa, settings: Record<string, string>, clock: FakeClock): Promise<LifecycleCa> {
  await ca.close();
  return startLifecycleCa({ ...settings, 'data-dir': ca.config.dataDir }, clock);
}

/** A CA signing with an intermediate of an organisation's root, whose key meshca never holds ("bring your own CA"). */
async function pluginCa(clock: FakeClock): Promise<{ ca: LifecycleCa; renewed: KeyPairFiles }> {
  const dir = tempDir('byo');
  const orgRoot = selfSigned(dir, 'org-root', { days: 3650 });
  const current = signedCa(dir, 'current', orgRoot, { days: 6 });
  const renewed = signedCa(dir, 'renewed', orgRoot, { days: 12 });
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, readFileSync(orgRoot.cert));
  // openssl dates each certificate from the wall clock as it signs, seconds after this test's clock was read on a busy machine.
  clock.set(Math.max(clock.nowMs(), (Math.floor(Date.now() / 1000) + 1) * 1000));
  const ca = await startLifecycleCa({ 'import-intermediate-cert': current.cert, 'import-intermediate-key': current.key, 'import-trust-bundle': bundle }, clock);
  return { ca, renewed };
}

describe('authority records after every lifecycle flow', () => {
  it.each<[string, (clock: FakeClock) => Promise<LifecycleCa>]>([
    ['root prepared, then withdrawn with the intermediate waiting under it', async (clock) => {
      const ca = await rootPrepared(clock);
      await rootCommand(ca, 'withdraw');
      return ca;
    }],
    ['root prepared, activated once propagated, the old one retired once its SVIDs expired', async (clock) => {
      const ca = await rootPrepared(clock);
      clock.advance(PROPAGATION);
      await mintSvid(ca.localApp, WEB);
      await rootCommand(ca, 'activate');
      clock.advance(301);
      await rootCommand(ca, 'retire');
      return ca;
    }],
    ['root prepared, activated and retired, both forced, with live SVIDs', async (clock) => {
      const ca = await forcedActivation(clock);
      await rootCommand(ca, 'retire', { force: true });
      return ca;
    }],
    ['a forced root retirement interrupted before its revocations, finished at the next start', async (clock) => {
      const ca = await forcedActivation(clock);
      // The first of its transactions, as a server killed before the revocations leaves it.
      await ca.manager.retireRoot('operator:alice', async () => 1, true);
      return restarted(ca, ROTATION, clock);
    }],
    ['intermediates rotated on schedule, with a restart between prepare and activate', async (clock) => {
      const ca = await startLifecycleCa(SCHEDULE, clock);
      clock.advance(31 * 60);
      await ca.tick();
      const again = await restarted(ca, SCHEDULE, clock);
      clock.advance(20 * 60);
      await again.tick();
      return again;
    }],
    ['the intermediate waiting to sign tainted, then the signing one, then the CA restarted', async (clock) => {
      const ca = await startLifecycleCa(SCHEDULE, clock);
      clock.advance(31 * 60);
      await ca.tick();
      const set = ca.manager.current();
      await taint(ca, set.preparedIntermediateUnder(set.signingRoot())!.record.id);
      await mintSvid(ca.localApp, WEB);
      await taint(ca, ca.manager.current().activeIntermediate()!.record.id);
      return restarted(ca, SCHEDULE, clock);
    }],
    ['an imported intermediate replaced by another the organisation renewed', async (clock) => {
      const { ca, renewed } = await pluginCa(clock);
      await mintSvid(ca.localApp, WEB);
      // Past the second openssl signed the renewed one in.
      clock.advance(2);
      const res = await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/intermediate/import', payload: { certFile: renewed.cert, keyFile: renewed.key } });
      expect(res.statusCode, res.body).toBe(201);
      return ca;
    }],
  ])('pass/%s: each authority is in the state its latest event leaves it in, over the API and offline', async (_name, flow) => {
    const ca = await flow(clockNearNow());
    await ca.core.audit.checkpoint();
    const result = await verifyOverApi(ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: true, problem: undefined });
    expect(await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()))).toEqual(result);
  });
});

describe('creation events of earlier builds', () => {
  const record: AuthorityRecord = {
    id: 'aa01', kind: 'intermediate', state: 'active', parentId: 'bb02', certDer: Buffer.from('certificate'), upstreamChainDer: [],
    notBefore: 100, notAfter: 200, keyRef: 'aa01', createdAt: 100, activatedAt: 100, retiredAt: null, taintedAt: null,
  };
  // As the first builds (25 November 2026) logged it: no keyHeld, nor (until 27 November) certificateSha256.
  const earliest = { id: 'aa01', kind: 'intermediate', state: 'active', parent: 'bb02', notBefore: 100, notAfter: 200 };
  const created = (data: object): StoredEvent => ({ seq: 1, at: 100, type: 'authority.created', actor: 'meshca', dataJson: JSON.stringify(data), prevHash: '', hash: '' });

  it.each<[string, object, Partial<AuthorityRecord>, string | undefined]>([
    ['pass/the record as created', earliest, {}, undefined],
    ['pass/a field the event lacks is not held (keyHeld)', earliest, { keyRef: null }, undefined],
    ['fail/a field it has is (kind)', earliest, { kind: 'root' }, 'event 1 records the creation of authority aa01 with kind "intermediate", but it is recorded with "root": the authority records were altered'],
    ['fail/and its state (the one it was created in)', earliest, { state: 'retired' }, 'event 1 (authority.created) leaves authority aa01 active, but it is recorded as retired: the authority records were altered'],
  ])('%s', (_name, data, change, reason) => {
    const check = new AuthorityRecordCheck();
    expect(check.event(created(data))).toBeUndefined();
    const stored = { ...record, ...change };
    expect(check.finish([stored], [stored], 2)).toEqual(reason && { seq: 1, reason });
  });
});

describe('an intermediate made, and a checkpoint signed with it, while verification starts', () => {
  it('pass/checkpoints are read before the authorities, so every signer of one read is among them: no false alarm', async () => {
    const { ca, second } = await caWithHistory();
    let raced = false;
    const journal = Object.create(ca.store.authorities) as typeof ca.store.authorities;
    journal.listAuthorities = async () => {
      const records = await ca.store.authorities.listAuthorities();
      // Just after verification has read the authorities the first time.
      if (!raced) {
        raced = true;
        // A taint makes the next intermediate signing, and the checkpoint is signed with it.
        const active = ca.manager.current().activeIntermediate()!.record.id;
        expect(active).not.toBe(second);
        expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${active}/taint` })).statusCode).toBe(200);
        await ca.core.audit.checkpoint();
      }
      return records;
    };
    const result = await verifyStoredAudit(journal, ca.store.audit);
    expect(raced).toBe(true);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: true, problem: undefined });
  });
});

describe('a lifecycle event of the log', () => {
  it.each(['null', '"a string"', '{"kind":"intermediate"}'])('fail/whose data is %s (after the last checkpoint, rechained): named as altered, not a failure of the verifier', async (data) => {
    const { ca } = await caWithHistory();
    const head = ca.store.db.prepare<[], { seq: number }>('SELECT max(seq) AS seq FROM audit_events').get()!.seq;
    dropAppendOnlyTriggers(ca.store.db);
    ca.store.db.prepare("UPDATE audit_events SET type = 'authority.created', data = ? WHERE seq = ?").run(data, head);
    rechainFrom(ca.store.db, head);
    const result = await verifyOverApi(ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: false, problem: { seq: head, reason: `event ${head} (authority.created) names no authority: its data was altered` } });
    expect(await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()))).toEqual(result);
  });

  it.each([
    ['audit.checkpoint', 'null', 'records no checkpoint'],
    ['audit.checkpoint', '"a string"', 'records no checkpoint'],
    ['certificate.issued', 'null', 'names no certificate'],
    ['certificates.revoked', '[1]', 'names no certificate'],
  ])('fail/a %s event whose data is %s (rechained): named as altered, not a failure of the verifier', async (type, data, says) => {
    const { ca } = await caWithHistory();
    const head = ca.store.db.prepare<[], { seq: number }>('SELECT max(seq) AS seq FROM audit_events').get()!.seq;
    dropAppendOnlyTriggers(ca.store.db);
    ca.store.db.prepare('UPDATE audit_events SET type = ?, data = ? WHERE seq = ?').run(type, data, head);
    rechainFrom(ca.store.db, head);
    const result = await verifyOverApi(ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: false, problem: { seq: head, reason: `event ${head} (${type}) ${says}: its data was altered` } });
    expect(await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()))).toEqual(result);
  });
});

/**
 * Stores a checkpoint of event `seq` signed with the key the data directory keeps for intermediate `signer`, as
 * whoever got that key (from the directory or a backup) and can write the datastore would.
 */
async function storeCheckpointSignedBy(ca: LifecycleCa, signer: string, seq: number): Promise<void> {
  const key = createPrivateKey(readFileSync(join(ca.config.dataDir, 'keys', `${signer}.key.pem`)));
  const event = eventRow(ca.store.db, seq);
  const c = await signCheckpoint({ seq, hash: event.hash, at: event.at + 1 }, new KeyObjectSigner(key), signer);
  ca.store.db.prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)').run(c.seq, c.hash, c.at, c.signerId, c.signature);
}

const headSeq = (db: Db) => db.prepare<[], { seq: number }>('SELECT max(seq) AS seq FROM audit_events').get()!.seq;

describe('a checkpoint signed with the key of an intermediate the log no longer has signing', () => {
  // The CA signs checkpoints with its active intermediate only. A tainted key is presumed stolen; a retired one stays
  // in the data directory, and in every backup taken while it signed.
  it.each([
    {
      name: 'tainted (its key stolen)',
      signer: (h: History) => h.second,
      says: (h: History) => `which event ${h.taintedAt} records as tainted: its key is not to be trusted after that`,
    },
    {
      name: 'retired',
      signer: (h: History) => h.first,
      says: (h: History) => `which event ${h.retiredAt} records as retired: the CA signs checkpoints with its active intermediate only, so this key signed it outside the CA`,
    },
  ])('fail/signed over the head, by the intermediate the log records as $name: refused, naming that event', async ({ signer, says }) => {
    const h = await caWithHistory();
    const head = headSeq(h.ca.store.db);
    await storeCheckpointSignedBy(h.ca, signer(h), head);
    const result = await verifyOverApi(h.ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({
      ok: false,
      problem: { seq: head, reason: `checkpoint for event ${head} is signed by ${signer(h)}, ${says(h)}` },
    });
    expect(await verifyDatastoreFile(copyDatastore(h.ca.store.db, tempDir()))).toEqual(result);
  });

  it('pass/signed before the retirement, by the intermediate that signed then', async () => {
    const h = await caWithHistory();
    await storeCheckpointSignedBy(h.ca, h.first, h.retiredAt - 1);
    expect(await verifyOverApi(h.ca)).toMatchObject({ ok: true, checkpoints: 2 });
  });
});

describe('an authority record forged to sign checkpoints', () => {
  it('fail/the checkpoint signer recorded as imported, its upstream chain holding bytes that are no certificate: its checkpoint chains to no trusted root', async () => {
    const h = await caWithHistory();
    h.ca.store.db.prepare(`UPDATE authorities SET parent_id = NULL, upstream_chain = '["AAAA"]' WHERE id = ?`).run(h.checkpoint.signer);
    const result = await verifyOverApi(h.ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({
      ok: false,
      problem: { seq: h.checkpoint.seq, reason: expect.stringContaining(`checkpoint for event ${h.checkpoint.seq} is signed by ${h.checkpoint.signer}, which does not chain to a trusted root`) },
    });
    expect(await verifyDatastoreFile(copyDatastore(h.ca.store.db, tempDir()))).toEqual(result);
  });

  it('fail/an SVID recorded as an imported intermediate, its chain the real intermediate: its checkpoint chains to no trusted root', async () => {
    const { ca } = await caWithHistory();
    // Any workload holds an SVID's key; whoever can write the datastore can add a record for it.
    const svid = await mintCredential(ca, WEB);
    const [leaf, intermediate] = decodeCertificates(svid.chainPem);
    const id = readCertificate(leaf!).keyId.toString('hex');
    ca.store.db
      .prepare(
        `INSERT INTO authorities (id, kind, state, parent_id, cert_der, upstream_chain, not_before, not_after, key_ref, created_at, activated_at, retired_at, tainted_at)
         VALUES (?, 'intermediate', 'retired', NULL, ?, ?, 0, 0, NULL, 0, NULL, 0, NULL)`,
      )
      .run(id, leaf, JSON.stringify([intermediate!.toString('base64')]));
    const head = eventRow(ca.store.db, ca.store.db.prepare<[], { seq: number }>('SELECT max(seq) AS seq FROM audit_events').get()!.seq);
    const forged = await signCheckpoint({ seq: head.seq, hash: head.hash, at: head.at + 1 }, new KeyObjectSigner(createPrivateKey(svid.keyPem)), id);
    ca.store.db
      .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
      .run(forged.seq, forged.hash, forged.at, forged.signerId, forged.signature);
    const result = await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()));
    expect({ ok: result.ok, reason: result.problem?.reason }).toEqual({
      ok: false,
      reason: expect.stringContaining(`checkpoint for event ${head.seq} is signed by ${id}, which does not chain to a trusted root`),
    });
  });
});

describe('an authority record whose upstream chain is not what meshca writes', () => {
  it.each(["'x'", '5', "'[1]'", "'{}'"])(
    'fail/upstream_chain = %s: verify stops with an error naming the authority (it had thrown a bare SyntaxError or TypeError)',
    async (value) => {
      const h = await caWithHistory();
      h.ca.store.db.prepare(`UPDATE authorities SET upstream_chain = ${value} WHERE id = ?`).run(h.first);
      await expect(verifyDatastoreFile(copyDatastore(h.ca.store.db, tempDir()))).rejects.toThrow(
        `the intermediate ${h.first}'s recorded upstream chain is not the list of certificates meshca writes: the authority records were altered`,
      );
    },
  );
});
