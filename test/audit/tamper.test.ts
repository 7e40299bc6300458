/**
 * Tampering with the audit log directly in SQLite, as an attacker with write
 * access to the datastore would, and `meshca audit verify` naming the first
 * event that no longer fits: over the API of the running CA, and offline with
 * `--db` on a copy of the file or on the file of a stopped CA.
 *
 * The cases share one CA whose log is put back after each. The offline verifier
 * `meshca audit verify --db` calls checks a copy of the file in every case; the
 * built `meshca` itself runs for a few (a process start costs most of a second).
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import type { Checkpoint } from '../../src/ca/audit-checkpoint.js';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import type { Db } from '../../src/store/sqlite/database.js';
import {
  copyDatastore, databaseFile, dropAppendOnlyTriggers, eventRow, eventRows, rechainFrom, restoreAudit, snapshotAudit, verifyOverApi,
  type AuditSnapshot,
} from '../support/audit-log.js';
import { asOperator, attestAgent, callCa, joinToken, mintCredential, newKeyAndCsr } from '../support/callers.js';
import { runMeshca } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

/** Events of the log the tamper cases aim at, found by what they record. */
interface Landmarks {
  readonly tokenCreated: number;
  readonly attested: number;
  /** The certificate minted before the checkpoint. */
  readonly mint: number;
  /** The last event the signed checkpoint covers. */
  readonly checkpointed: number;
  readonly head: number;
  readonly checkpoint: Checkpoint;
}

/**
 * A log of real activity: an entry, a join token, an attested agent, a mint and
 * a workload SVID; then a signed checkpoint; then more events after it.
 */
async function caWithActivity(): Promise<{ ca: TestCa; marks: Landmarks }> {
  const ca = await startTestCa();
  const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: 'spiffe://example.org/ns/web' });
  const agent = await attestAgent(ca, 'web-1');
  await mintCredential(ca, 'spiffe://example.org/ns/minted');
  const workload = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
  expect(workload.status).toBe(200);
  const checkpoint = (await ca.core.audit.checkpoint())!;

  await joinToken(ca, 'web-2');
  await mintCredential(ca, 'spiffe://example.org/ns/later');
  await asOperator(ca, 'DELETE', `/v1/entries/${entry.id}`);

  const rows = eventRows(ca.store.db);
  const first = (type: string, contains = '') => rows.find((r) => r.type === type && r.data.includes(contains))!.seq;
  const marks = {
    tokenCreated: first('token.created'),
    attested: first('agent.attested'),
    mint: first('certificate.issued', '"kind":"mint"'),
    checkpointed: checkpoint.seq,
    head: rows.at(-1)!.seq,
    checkpoint,
  };
  // The cases rely on this shape: events before the checkpoint, the checkpoint, events after it.
  expect(marks.mint).toBeLessThan(marks.checkpointed);
  expect(marks.head).toBeGreaterThan(marks.checkpointed + 2);
  return { ca, marks };
}

/** `meshca audit verify --db FILE` on a consistent copy of the datastore, taken as it is now. */
function verifyCopy(ca: TestCa, ...more: string[]) {
  return runMeshca(['audit', 'verify', '--db', copyDatastore(ca.store.db, tempDir()), ...more]);
}

function failureText(result: VerificationResult): string {
  return `audit log FAILED verification at event ${result.problem!.seq}: ${result.problem!.reason}\n(${result.events} events before it verified)\n`;
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

function swapContent(db: Db, a: number, b: number): void {
  const [ra, rb] = [eventRow(db, a), eventRow(db, b)];
  const put = db.prepare('UPDATE audit_events SET at = ?, type = ?, actor = ?, data = ?, prev_hash = ?, hash = ? WHERE seq = ?');
  put.run(rb.at, rb.type, rb.actor, rb.data, rb.prev_hash, rb.hash, a);
  put.run(ra.at, ra.type, ra.actor, ra.data, ra.prev_hash, ra.hash, b);
}

interface TamperCase {
  readonly name: string;
  readonly tamper: (db: Db, m: Landmarks) => void;
  /** The event verification must name. */
  readonly problemAt: (m: Landmarks) => number;
  readonly reason: (m: Landmarks) => string | RegExp;
  /** Also run the built `meshca audit verify --db` on the copy and check its exit code and report. */
  readonly cli?: true;
}

const CASES: readonly TamperCase[] = [
  {
    name: 'fail/data of an issued certificate changed',
    cli: true,
    tamper: (db, m) => db.prepare("UPDATE audit_events SET data = replace(data, 'ns/minted', 'ns/innocent') WHERE seq = ?").run(m.mint),
    problemAt: (m) => m.mint,
    reason: (m) => `event ${m.mint} (certificate.issued) was altered: its content does not match its hash`,
  },
  {
    name: 'fail/type of an event changed',
    tamper: (db, m) => db.prepare("UPDATE audit_events SET type = 'token.discarded' WHERE seq = ?").run(m.tokenCreated),
    problemAt: (m) => m.tokenCreated,
    reason: (m) => `event ${m.tokenCreated} (token.discarded) was altered: its content does not match its hash`,
  },
  {
    name: 'fail/actor of an event changed',
    tamper: (db, m) => db.prepare("UPDATE audit_events SET actor = 'operator:local' WHERE seq = ?").run(m.attested),
    problemAt: (m) => m.attested,
    reason: (m) => `event ${m.attested} (agent.attested) was altered: its content does not match its hash`,
  },
  {
    name: 'fail/time of an event changed',
    tamper: (db, m) => db.prepare('UPDATE audit_events SET at = at - 86400 WHERE seq = ?').run(m.mint),
    problemAt: (m) => m.mint,
    reason: (m) => `event ${m.mint} (certificate.issued) was altered: its content does not match its hash`,
  },
  {
    name: 'fail/an event in the middle deleted',
    cli: true,
    tamper: (db, m) => db.prepare('DELETE FROM audit_events WHERE seq = ?').run(m.attested),
    problemAt: (m) => m.attested,
    reason: (m) => `event ${m.attested} is missing (the next stored event is ${m.attested + 1}): events were deleted`,
  },
  {
    name: 'fail/two events swapped (content moved between rows)',
    tamper: (db, m) => swapContent(db, m.tokenCreated, m.mint),
    problemAt: (m) => m.tokenCreated,
    reason: (m) => `event ${m.tokenCreated} does not follow event ${m.tokenCreated - 1} (its previous-hash differs): the log was changed before it`,
  },
  {
    name: 'fail/two adjacent events renumbered',
    tamper: (db, m) => {
      const move = db.prepare('UPDATE audit_events SET seq = ? WHERE seq = ?');
      move.run(-1, m.attested);
      move.run(m.attested, m.attested + 1);
      move.run(m.attested + 1, -1);
    },
    problemAt: (m) => m.attested,
    reason: (m) => `event ${m.attested} does not follow event ${m.attested - 1} (its previous-hash differs): the log was changed before it`,
  },
  {
    name: 'fail/tail cut off inside the checkpointed range',
    cli: true,
    tamper: (db, m) => db.prepare('DELETE FROM audit_events WHERE seq >= ?').run(m.checkpointed - 1),
    problemAt: (m) => m.checkpointed - 1,
    reason: (m) =>
      new RegExp(`^the log ends at event ${m.checkpointed - 2} but a checkpoint signed at ${ISO} covers event ${m.checkpointed}: the tail was cut off$`),
  },
  // Numbered below 1, a row sorts before the log and no walk from event 1 meets it: an event inserted all the same.
  ...([0, -7] as const).map((seq): TamperCase => ({
    name: `fail/a forged event numbered ${seq}, before the first`,
    cli: true,
    tamper: (db) => {
      const fields = { seq, at: eventRow(db, 1).at, type: 'certificates.pruned', actor: 'meshca', dataJson: '{"expiredBefore":4102444800}', prevHash: GENESIS_HASH };
      db.prepare('INSERT INTO audit_events (seq, at, type, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(seq, fields.at, fields.type, fields.actor, fields.dataJson, fields.prevHash, eventHash(fields));
    },
    problemAt: () => 1,
    reason: () => `event ${seq} is stored, but events are numbered from 1: it was inserted`,
  })),
  {
    name: 'fail/every event deleted',
    tamper: (db) => db.prepare('DELETE FROM audit_events').run(),
    problemAt: () => 1,
    reason: (m) => new RegExp(`^the log ends at event 0 but a checkpoint signed at ${ISO} covers event ${m.checkpointed}: the tail was cut off$`),
  },
  {
    name: 'fail/tail rewritten consistently from the checkpointed event',
    cli: true,
    tamper: (db, m) => {
      db.prepare("UPDATE audit_events SET data = replace(data, 'ns/web', 'ns/elsewhere') WHERE seq = ?").run(m.checkpointed);
      rechainFrom(db, m.checkpointed);
    },
    problemAt: (m) => m.checkpointed,
    reason: (m) =>
      `checkpoint signed at ${new Date(m.checkpoint.at * 1000).toISOString()} says event ${m.checkpointed} has hash ${m.checkpoint.hash.slice(0, 12)}…; the log was rewritten`,
  },
  {
    name: 'fail/tail rewritten consistently from an earlier event, one event dropped',
    tamper: (db, m) => {
      db.prepare('DELETE FROM audit_events WHERE seq = ?').run(m.head);
      db.prepare("UPDATE audit_events SET actor = 'operator:someone-else' WHERE seq = ?").run(m.tokenCreated);
      rechainFrom(db, m.tokenCreated);
    },
    problemAt: (m) => m.checkpointed,
    reason: (m) =>
      `checkpoint signed at ${new Date(m.checkpoint.at * 1000).toISOString()} says event ${m.checkpointed} has hash ${m.checkpoint.hash.slice(0, 12)}…; the log was rewritten`,
  },
  {
    name: 'fail/tail rewritten consistently and the checkpoint hash edited to match',
    tamper: (db, m) => {
      // An event no certificate record speaks for (a rewritten issuance event is caught at once by its record:
      // certificate-records.test.ts), so that only the checkpoint's signature can tell.
      db.prepare("UPDATE audit_events SET actor = 'operator:someone-else' WHERE seq = ?").run(m.tokenCreated);
      rechainFrom(db, m.tokenCreated);
      db.prepare('UPDATE audit_checkpoints SET hash = ?').run(eventRow(db, m.checkpointed).hash);
    },
    problemAt: (m) => m.checkpointed,
    reason: (m) => `checkpoint for event ${m.checkpointed} has an invalid signature`,
  },
  // A checkpoint edited, the log untouched: the checkpoint is what changed, and what the report must name.
  {
    name: 'fail/checkpoint hash edited, the log untouched: named as the checkpoint, not as a rewritten log',
    tamper: (db) => db.prepare('UPDATE audit_checkpoints SET hash = ?').run('ab'.repeat(32)),
    problemAt: (m) => m.checkpointed,
    reason: (m) => `checkpoint for event ${m.checkpointed} has an invalid signature`,
  },
  {
    name: 'fail/checkpoint moved to an earlier event, the log untouched: named as the checkpoint, not as a rewritten log',
    tamper: (db, m) => db.prepare('UPDATE audit_checkpoints SET seq = ?').run(m.mint),
    problemAt: (m) => m.mint,
    reason: (m) => `checkpoint for event ${m.mint} has an invalid signature`,
  },
  {
    name: 'fail/one byte of the checkpoint signature flipped',
    tamper: (db, m) => {
      // Still well-formed DER (the byte is inside r), but no longer the signature of this checkpoint.
      const signature = Buffer.from(m.checkpoint.signature, 'base64');
      signature[6]! ^= 0x01;
      db.prepare('UPDATE audit_checkpoints SET signature = ?').run(signature.toString('base64'));
    },
    problemAt: (m) => m.checkpointed,
    reason: (m) => `checkpoint for event ${m.checkpointed} has an invalid signature`,
  },
  {
    name: 'fail/checkpoint time moved (the signature no longer covers it)',
    tamper: (db) => db.prepare('UPDATE audit_checkpoints SET at = at - 3600').run(),
    problemAt: (m) => m.checkpointed,
    reason: (m) => `checkpoint for event ${m.checkpointed} has an invalid signature`,
  },
  {
    name: 'fail/forged checkpoint of the head (a signature copied from another checkpoint)',
    tamper: (db, m) =>
      db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
        .run(m.head, eventRow(db, m.head).hash, m.checkpoint.at + 60, m.checkpoint.signerId, m.checkpoint.signature),
    problemAt: (m) => m.head,
    reason: (m) => `checkpoint for event ${m.head} has an invalid signature`,
  },
  {
    name: 'fail/forged checkpoint claiming the log went further than it does',
    tamper: (db, m) =>
      db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
        .run(m.head + 5, 'ab'.repeat(32), m.checkpoint.at + 60, m.checkpoint.signerId, m.checkpoint.signature),
    problemAt: (m) => m.head + 1,
    reason: (m) => `checkpoint for event ${m.head + 5} has an invalid signature`,
  },
  // A checkpoint row the walk would never reach (no event has its number, and none after the log's end) is no less
  // inserted: stored as the newest, one with a text seq also stopped the CA's scheduled checkpoints.
  ...([
    ['text', 'next'],
    ['0', 0],
    ['below 1', -3],
    ['between two events', 2.5],
  ] as const).map(([what, seq]): TamperCase => ({
    name: `fail/forged checkpoint whose event number is ${what}, which no event has`,
    cli: true,
    tamper: (db, m) =>
      db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
        .run(seq, 'ab'.repeat(32), m.checkpoint.at, m.checkpoint.signerId, m.checkpoint.signature),
    problemAt: (m) => m.head + 1,
    reason: () => `a stored checkpoint covers event ${JSON.stringify(seq)}, which no event can be (events are numbered in whole numbers from 1): it was inserted`,
  })),
  // A stored checkpoint's time may be named in the report: one that is no time must not make verification throw.
  ...([
    ['text', 'soon'],
    ['a number past any date', 1e20],
  ] as const).map(([what, at]): TamperCase => ({
    name: `fail/forged checkpoint of an event, with another hash and a time that is ${what}`,
    cli: true,
    tamper: (db, m) =>
      db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
        .run(m.mint, 'ab'.repeat(32), at, m.checkpoint.signerId, m.checkpoint.signature),
    problemAt: (m) => m.mint,
    reason: (m) => `checkpoint for event ${m.mint} has an invalid signature`,
  })),
  {
    name: 'fail/forged checkpoint naming a signer the CA does not know',
    tamper: (db, m) =>
      db
        .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
        .run(m.head, eventRow(db, m.head).hash, m.checkpoint.at + 60, 'f'.repeat(40), m.checkpoint.signature),
    problemAt: (m) => m.head,
    reason: (m) => `checkpoint for event ${m.head} is signed by ${'f'.repeat(40)}, which does not chain to a trusted root (after a root rotation, the trust bundle must hold every root you have trusted, earlier ones too)`,
  },
];

describe('the audit log of a running CA', () => {
  let ca: TestCa;
  let marks: Landmarks;
  let pristine: AuditSnapshot;

  beforeAll(async () => {
    ({ ca, marks } = await caWithActivity());
    pristine = snapshotAudit(ca.store.db);
  });
  beforeEach(async () => expect((await verifyOverApi(ca)).ok).toBe(true));
  afterEach(() => restoreAudit(ca.store.db, pristine));

  it('pass/an untouched log verifies over the API and offline, with its counts and head', async () => {
    const expected = { ok: true, events: marks.head, checkpoints: 1, head: { seq: marks.head, hash: eventRow(ca.store.db, marks.head).hash } };
    expect(await verifyOverApi(ca)).toEqual(expected);
    const json = await verifyCopy(ca, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(expected);
  });

  it('pass/the database refuses UPDATE and DELETE of audit events while its triggers stand', async () => {
    const db = ca.store.db;
    const before = eventRows(db);
    expect(() => db.prepare("UPDATE audit_events SET actor = 'operator:mallory' WHERE seq = ?").run(marks.mint)).toThrow(
      'the audit log is append-only',
    );
    expect(() => db.prepare('DELETE FROM audit_events WHERE seq = ?').run(marks.head)).toThrow('the audit log is append-only');
    expect(() => db.prepare('DELETE FROM audit_events').run()).toThrow('the audit log is append-only');
    expect(eventRows(db)).toEqual(before);
  });

  it.each(CASES)('$name', async ({ tamper, problemAt, reason, cli }) => {
    dropAppendOnlyTriggers(ca.store.db);
    tamper(ca.store.db, marks);

    const result = await verifyOverApi(ca);
    const seq = problemAt(marks);
    expect({ ok: result.ok, seq: result.problem?.seq, events: result.events }).toEqual({ ok: false, seq, events: seq - 1 });
    const expectedReason = reason(marks);
    if (typeof expectedReason === 'string') expect(result.problem!.reason).toBe(expectedReason);
    else expect(result.problem!.reason).toMatch(expectedReason);

    const copy = copyDatastore(ca.store.db, tempDir());
    expect(await verifyDatastoreFile(copy)).toEqual(result);
    if (cli) {
      const offline = await runMeshca(['audit', 'verify', '--db', copy]);
      expect({ code: offline.code, stdout: offline.stdout }).toEqual({ code: 1, stdout: failureText(result) });
    }
  });

  it('pass/checkpoints verify against the CA’s own bundle pinned by the auditor', async () => {
    const file = join(tempDir(), 'bundle.pem');
    writeFileSync(file, ca.bundlePem);
    expect(await verifyOverApi(ca, ca.bundlePem)).toMatchObject({ ok: true, events: marks.head, checkpoints: 1 });
    const offline = await verifyCopy(ca, '--trust-bundle', file);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/^audit log verified: /);
  });

  it('fail/a checkpoint whose signer does not chain to the pinned (foreign) bundle', async () => {
    const other = await startTestCa();
    const file = join(tempDir(), 'foreign.pem');
    writeFileSync(file, other.bundlePem);

    const result = await verifyOverApi(ca, other.bundlePem);
    expect(result).toMatchObject({
      ok: false,
      events: marks.checkpointed - 1,
      problem: {
        seq: marks.checkpointed,
        reason: `checkpoint for event ${marks.checkpointed} is signed by ${marks.checkpoint.signerId}, which does not chain to a trusted root (after a root rotation, the trust bundle must hold every root you have trusted, earlier ones too)`,
      },
    });
    const offline = await verifyCopy(ca, '--trust-bundle', file);
    expect({ code: offline.code, stdout: offline.stdout }).toEqual({ code: 1, stdout: failureText(result) });
  });

  it.each([
    ['an empty file', ''],
    ['text without a PEM block', 'roots: see the wiki\n'],
    ['a PEM block that is not a certificate', `-----BEGIN PUBLIC KEY-----\n${Buffer.from('not a key').toString('base64')}\n-----END PUBLIC KEY-----\n`],
  ])('fail/a pinned trust bundle that holds no certificate (%s) is refused, never treated as "no pin"', async (_name, bundle) => {
    const file = join(tempDir(), 'bundle.pem');
    writeFileSync(file, bundle);
    const [res, offline] = await Promise.all([
      ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: { trustBundle: bundle } }),
      verifyCopy(ca, '--trust-bundle', file),
    ]);
    expect({
      api: { status: res.statusCode, code: res.json().error?.code },
      cli: { code: offline.code, stdout: offline.stdout, heading: offline.stderr.split('\n')[0] },
    }).toEqual({
      api: { status: 400, code: 'invalid_request' },
      cli: { code: 78, stdout: '', heading: 'meshca audit verify: invalid arguments:' },
    });
  });
});

describe('a pinned trust bundle near the schema limit', () => {
  it('pass/is read at exactly the schema limit of 256 KiB, not refused as too large', async () => {
    const ca = await startTestCa();
    const copies = ca.bundlePem.repeat(Math.floor((256 * 1024) / ca.bundlePem.length));
    const roots = copies + ' '.repeat(256 * 1024 - copies.length);
    expect(roots.length).toBe(256 * 1024);
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: { trustBundle: roots } });
    expect([res.statusCode, res.json().ok]).toEqual([200, true]);
  });
});

describe('the datastore file of a stopped CA', () => {
  it('pass/with no signed checkpoint yet, the pass says the pinned roots were not used (a foreign bundle here)', async () => {
    const ca = await startTestCa();
    const foreign = join(tempDir(), 'bundle.pem');
    writeFileSync(foreign, (await startTestCa()).bundlePem);
    await ca.close();
    const run = await runMeshca(['audit', 'verify', '--db', databaseFile(ca), '--trust-bundle', foreign]);
    expect({ code: run.code, said: run.stdout.trimEnd().split('\n') }).toEqual({
      code: 0,
      said: [expect.stringMatching(/^audit log verified: \d+ events, 0 signed checkpoints, head /), '(no signed checkpoint yet, so --trust-bundle was not used; run `meshca audit checkpoint` first)'],
    });
  });

  it('fail/meshca audit verify --db exits 0 on the untouched file and 1 naming the event once a row is deleted', async () => {
    const { ca, marks } = await caWithActivity();
    const head = eventRow(ca.store.db, marks.head);
    await ca.close();
    const untouched = await runMeshca(['audit', 'verify', '--db', databaseFile(ca)]);
    expect(untouched).toEqual({
      code: 0,
      stdout: `audit log verified: ${marks.head} events, 1 signed checkpoint, head ${marks.head}:${head.hash}\n`,
      stderr: '',
    });

    const db = new Database(databaseFile(ca));
    try {
      dropAppendOnlyTriggers(db);
      db.prepare('DELETE FROM audit_events WHERE seq = ?').run(marks.mint);
    } finally {
      db.close();
    }
    const tampered = await runMeshca(['audit', 'verify', '--db', databaseFile(ca)]);
    expect(tampered).toEqual({
      code: 1,
      stdout:
        `audit log FAILED verification at event ${marks.mint}: event ${marks.mint} is missing (the next stored event is ${marks.mint + 1}): ` +
        `events were deleted\n(${marks.mint - 1} events before it verified)\n`,
      stderr: '',
    });
  });
});

describe('the scheduled checkpoint of a datastore holding a forged checkpoint row', () => {
  // The newest checkpoint decides whether anything is left to sign; a row no event can have covers nothing, and
  // must not leave every event after it unsigned (SQLite sorts a text seq above every number).
  it('pass/is still signed when events came after the last genuine one (the forged row\'s seq is text)', async () => {
    const ca = await startTestCa();
    const genuine = (await ca.core.audit.checkpoint())!;
    ca.store.db
      .prepare('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
      .run('next', genuine.hash, genuine.at, genuine.signerId, genuine.signature);
    await mintCredential(ca, 'spiffe://example.org/ns/after-the-forgery');

    const signed = await ca.core.audit.checkpointIfNew();
    expect(signed?.seq).toBe(eventRows(ca.store.db).at(-2)!.seq);
  });
});
