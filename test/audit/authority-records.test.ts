/**
 * The authority records held to the lifecycle events of the audit log: an
 * intermediate the log says was tainted, or retired, cannot be put back to
 * signing by editing the datastore, nor an authority the log created be
 * removed or given another certificate, nor one the log never created be
 * added (a root of someone else's, which a restarted CA would put in the
 * trust bundle), without `meshca audit verify` (over the API, and --db)
 * naming the event the records now contradict.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/ca/audit-checkpoint.js';
import { verifyStoredAudit } from '../../src/ca/audit-service.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { mintCredential } from '../support/callers.js';
import type { Db } from '../../src/store/sqlite/database.js';
import { copyDatastore, dropAppendOnlyTriggers, eventRow, rechainFrom, verifyOverApi } from '../support/audit-log.js';
import { auditEvents, clockNearNow, startLifecycleCa } from '../support/lifecycle-ca.js';
import { mintSvid } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';

const WEB = 'spiffe://example.org/ns/prod/sa/web';

/** A CA whose first intermediate retired on schedule and whose second was then tainted, with a signed checkpoint after. */
async function caWithHistory() {
  const clock = clockNearNow();
  const ca = await startLifecycleCa({ 'intermediate-ttl': '60m', 'svid-max-ttl': '10m', 'svid-ttl': '5m' }, clock);
  const first = ca.manager.current().activeIntermediate()!.record.id;
  // Past the activation point: the next intermediate signs, the first retires.
  clock.advance(51 * 60);
  await ca.tick();
  const second = ca.manager.current().activeIntermediate()!.record.id;
  await mintSvid(ca.localApp, WEB);
  expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${second}/taint` })).statusCode).toBe(200);
  await ca.core.audit.checkpoint();
  const seqOf = (type: string, id: string) => auditEvents(ca.store.db, type).find((e) => e.data.id === id)!.seq;
  const checkpoint = ca.store.db.prepare('SELECT seq, signer_id AS signer FROM audit_checkpoints ORDER BY id DESC LIMIT 1').get() as { seq: number; signer: string };
  const head = (ca.store.db.prepare('SELECT MAX(seq) AS seq FROM audit_events').get() as { seq: number }).seq;
  return {
    ca,
    first,
    second,
    retiredAt: seqOf('authority.retired', first),
    taintedAt: seqOf('authority.tainted', second),
    createdAt: seqOf('authority.created', first),
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

describe('a checkpoint signed with a tainted key', () => {
  it('fail/signed over the taint, by the intermediate the log records as tainted (its key stolen): refused, naming the taint', async () => {
    const { ca, second, taintedAt } = await caWithHistory();
    const stolen = createPrivateKey(readFileSync(join(ca.config.dataDir, 'keys', `${second}.key.pem`)));
    const head = eventRow(ca.store.db, ca.store.db.prepare<[], { seq: number }>('SELECT max(seq) AS seq FROM audit_events').get()!.seq);
    const forged = await signCheckpoint({ seq: head.seq, hash: head.hash, at: head.at + 1 }, new KeyObjectSigner(stolen), second);
    ca.store.db
      .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
      .run(forged.seq, forged.hash, forged.at, forged.signerId, forged.signature);
    const result = await verifyOverApi(ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({
      ok: false,
      problem: { seq: head.seq, reason: `checkpoint for event ${head.seq} is signed by ${second}, which event ${taintedAt} records as tainted: its key is not to be trusted after that` },
    });
  });
});

describe('an authority record forged to sign checkpoints', () => {
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
