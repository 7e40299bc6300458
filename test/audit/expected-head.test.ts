/**
 * A head kept by the auditor (`meshca audit verify --expect-head SEQ:HASH`,
 * `expectHead` on POST /v1/audit/verify). Whoever can write the datastore can
 * cut the log's tail together with every checkpoint after the cut, or rewrite
 * the chain below the cut: with no checkpoint left to contradict it, the log
 * verifies. Only the head an earlier verification printed still tells.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ExpectedHead, VerificationResult } from '../../src/ca/audit-verifier.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import type { Db } from '../../src/store/sqlite/database.js';
import {
  copyDatastore, dropAppendOnlyTriggers, eventRow, eventRows, rechainFrom, restoreAudit, snapshotAudit, verifyOverApi, type AuditSnapshot,
} from '../support/audit-log.js';
import { asOperator, joinToken, mintCredential } from '../support/callers.js';
import { runMeshca } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

/** Events the cases aim at. */
interface Landmarks {
  /** A token.created event well below every head: the event an attacker rewrites. */
  readonly rewritten: number;
  /** The head an auditor verified before the later events: the log has grown past it since. */
  readonly earlier: ExpectedHead;
  /** The first event after `earlier`: cutting here leaves a log that ends at `earlier`. */
  readonly cut: number;
  /** The head now. */
  readonly head: ExpectedHead;
}

/**
 * Activity, the head an auditor saw, more activity, a signed checkpoint and
 * more after it. Nothing from `cut` on issues a certificate, so a cut leaves no
 * certificate record without its event (certificate-records.test.ts covers those).
 */
async function caWithHistory(): Promise<{ ca: TestCa; marks: Landmarks }> {
  const ca = await startTestCa();
  await joinToken(ca, 'web-1');
  await mintCredential(ca, 'spiffe://example.org/ns/minted');
  await joinToken(ca, 'web-2');
  const earlier = headOf(ca.store.db);
  await joinToken(ca, 'web-3');
  const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-3', spiffeId: 'spiffe://example.org/ns/web' });
  await ca.core.audit.checkpoint();
  await joinToken(ca, 'web-4');
  await asOperator(ca, 'DELETE', `/v1/entries/${entry.id}`);

  const rows = eventRows(ca.store.db);
  const marks = {
    rewritten: rows.find((r) => r.type === 'token.created')!.seq,
    earlier,
    cut: earlier.seq + 1,
    head: headOf(ca.store.db),
  };
  expect(rows.filter((r) => r.seq >= marks.cut).map((r) => r.type)).not.toContain('certificate.issued');
  expect(marks.rewritten).toBeLessThan(earlier.seq);
  return { ca, marks };
}

function headOf(db: Db): ExpectedHead {
  const last = eventRows(db).at(-1)!;
  return { seq: last.seq, hash: last.hash };
}

/**
 * The log's tail from `m.cut` on deleted, and with it every checkpoint (the
 * chain's record of them went with the tail), and the join tokens the tail
 * created (verification holds the registration records to the log).
 */
function cutTailAndCheckpoints(db: Db, m: Landmarks): void {
  const created = eventRows(db).filter((r) => r.seq >= m.cut && r.type === 'token.created').map((r) => String(JSON.parse(r.data).tokenHash));
  for (const prefix of created) db.prepare('DELETE FROM join_tokens WHERE substr(hash, 1, 16) = ?').run(prefix);
  db.prepare('DELETE FROM audit_events WHERE seq >= ?').run(m.cut);
  db.prepare('DELETE FROM audit_checkpoints').run();
}

const text = (h: ExpectedHead) => `${h.seq}:${h.hash}`;

interface Case {
  readonly name: string;
  readonly tamper?: (db: Db, m: Landmarks) => void;
  /** The head the auditor brings. */
  readonly expect: (m: Landmarks) => ExpectedHead;
  /** Whether the log verifies without a head brought: the attacks here must, or the head would not be needed. */
  readonly passesWithout: boolean;
  /** The problem verification with the head names, or none. */
  readonly problem?: (m: Landmarks) => { seq: number; reason: string };
}

const CASES: readonly Case[] = [
  { name: 'pass/untouched log, the current head', expect: (m) => m.head, passesWithout: true },
  { name: 'pass/untouched log, an earlier head (the log has grown since)', expect: (m) => m.earlier, passesWithout: true },
  {
    name: 'pass/a log cut back exactly to the head expected (nothing the auditor saw is gone)',
    tamper: cutTailAndCheckpoints,
    expect: (m) => m.earlier,
    passesWithout: true,
  },
  {
    name: 'fail/tail cut off together with its checkpoints',
    tamper: cutTailAndCheckpoints,
    expect: (m) => m.head,
    passesWithout: true,
    problem: (m) => ({
      seq: m.cut,
      reason: `the log ends at event ${m.earlier.seq} but the head you expected is event ${m.head.seq}: the tail was cut off`,
    }),
  },
  {
    name: 'fail/every event and checkpoint deleted',
    tamper: (db) => {
      db.prepare('DELETE FROM audit_events').run();
      db.prepare('DELETE FROM audit_checkpoints').run();
    },
    expect: (m) => m.earlier,
    // The certificate records left without their events already tell; the head names the cut first.
    passesWithout: false,
    problem: (m) => ({ seq: 1, reason: `the log ends at event 0 but the head you expected is event ${m.earlier.seq}: the tail was cut off` }),
  },
  {
    name: 'fail/an event below the expected head rewritten and the chain recomputed, tail and checkpoints cut',
    tamper: (db, m) => {
      cutTailAndCheckpoints(db, m);
      db.prepare("UPDATE audit_events SET actor = 'operator:someone-else' WHERE seq = ?").run(m.rewritten);
      rechainFrom(db, m.rewritten);
    },
    expect: (m) => m.earlier,
    passesWithout: true,
    problem: (m) => ({
      seq: m.earlier.seq,
      reason: `event ${m.earlier.seq} has hash ${eventHashNow(m.earlier.seq)}…, not ${m.earlier.hash.slice(0, 12)}… as in the head you expected: the log was rewritten`,
    }),
  },
  {
    name: 'fail/untouched log, a head it never had (right number, another hash)',
    expect: (m) => ({ seq: m.earlier.seq, hash: 'ab'.repeat(32) }),
    passesWithout: true,
    problem: (m) => ({
      seq: m.earlier.seq,
      reason: `event ${m.earlier.seq} has hash ${m.earlier.hash.slice(0, 12)}…, not ${'ab'.repeat(6)}… as in the head you expected: the log was rewritten`,
    }),
  },
];

let currentDb: Db;
/** The first 12 hex digits of an event's hash as stored now (after the tamper). */
const eventHashNow = (seq: number) => eventRow(currentDb, seq).hash.slice(0, 12);

describe('verification against a head the auditor kept', () => {
  let ca: TestCa;
  let marks: Landmarks;
  let pristine: AuditSnapshot;

  beforeAll(async () => {
    ({ ca, marks } = await caWithHistory());
    currentDb = ca.store.db;
    pristine = snapshotAudit(ca.store.db);
  });
  beforeEach(async () => expect((await verifyOverApi(ca)).ok).toBe(true));
  afterEach(() => restoreAudit(ca.store.db, pristine));

  it.each(CASES)('$name', async ({ tamper, expect: expected, passesWithout, problem }) => {
    dropAppendOnlyTriggers(ca.store.db);
    tamper?.(ca.store.db, marks);
    const head = expected(marks);

    expect((await verifyOverApi(ca)).ok).toBe(passesWithout);
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: { expectHead: head } });
    expect(res.statusCode).toBe(200);
    const result = res.json<VerificationResult>();
    const want = problem?.(marks);
    expect({ ok: result.ok, problem: result.problem }).toEqual(want ? { ok: false, problem: want } : { ok: true, problem: undefined });
    if (want) expect(result.events).toBe(want.seq - 1);

    expect(await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()), { expectedHead: head })).toEqual(result);
  });

  it('pass/the head one `audit verify` prints is the --expect-head the next one takes; a cut log then fails with exit 1', async () => {
    const first = await runMeshca(['audit', 'verify', '--db', copyDatastore(ca.store.db, tempDir())]);
    expect(first.code).toBe(0);
    const printed = /, head (\S+)\n$/.exec(first.stdout)?.[1];
    expect(printed).toBe(text(marks.head));

    const again = await runMeshca(['audit', 'verify', '--db', copyDatastore(ca.store.db, tempDir()), '--expect-head', printed!]);
    expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 0, stdout: first.stdout });

    dropAppendOnlyTriggers(ca.store.db);
    cutTailAndCheckpoints(ca.store.db, marks);
    const copy = copyDatastore(ca.store.db, tempDir());
    const unaware = await runMeshca(['audit', 'verify', '--db', copy]);
    expect({ code: unaware.code, stdout: unaware.stdout }).toEqual({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`, head ${text(marks.earlier)}\n$`)) as unknown,
    });
    const cut = await runMeshca(['audit', 'verify', '--db', copy, '--expect-head', printed!]);
    expect(cut).toEqual({
      code: 1,
      stdout:
        `audit log FAILED verification at event ${marks.cut}: the log ends at event ${marks.earlier.seq} but the head you expected is ` +
        `event ${marks.head.seq}: the tail was cut off\n(${marks.earlier.seq} events before it verified)\n`,
      stderr: '',
    });
  });

  it.each([
    ['no colon', '12'],
    ['no hash', '12:'],
    ['sequence 0', `0:${'ab'.repeat(32)}`],
    ['a sequence that is not a number', `twelve:${'ab'.repeat(32)}`],
    ['a short hash', '12:abcdef'],
    ['an upper-case hash', `12:${'AB'.repeat(32)}`],
    ['the old "#SEQ HASH" form', `#12 ${'ab'.repeat(32)}`],
  ])('fail/--expect-head with %s exits 78 naming the flag, before reading anything', async (_name, value) => {
    // A datastore file that does not exist: the flag must be refused before it is opened.
    const run = await runMeshca(['audit', 'verify', '--db', `${tempDir()}/absent.db`, '--expect-head', value]);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 78, stdout: '' });
    expect(run.stderr.split('\n')[0]).toMatch(/^error: option '--expect-head <SEQ:HASH>' argument '.*' is invalid\. /);
  });

  it.each<[string, unknown]>([
    ['a string in the flag form', `1:${'ab'.repeat(32)}`],
    ['seq as a string', { seq: '1', hash: 'ab'.repeat(32) }],
    ['seq 0', { seq: 0, hash: 'ab'.repeat(32) }],
    ['seq not an integer', { seq: 1.5, hash: 'ab'.repeat(32) }],
    ['no hash', { seq: 1 }],
    ['no seq', { hash: 'ab'.repeat(32) }],
    ['a short hash', { seq: 1, hash: 'abcdef' }],
    ['an upper-case hash', { seq: 1, hash: 'AB'.repeat(32) }],
    ['another field', { seq: 1, hash: 'ab'.repeat(32), at: 0 }],
  ])('fail/POST /v1/audit/verify with a malformed expectHead (%s) answers 400 naming it', async (_name, expectHead) => {
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: { expectHead } });
    expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({ status: 400, code: 'invalid_request' });
    expect(res.json().error.message).toMatch(/^request body\/expectHead/);
  });
});
