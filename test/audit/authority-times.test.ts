/**
 * An authority's activation and retirement times under tamper, on each
 * datastore: `authority list` shows them, and the CA signs new intermediates
 * with the most recently activated root when no active intermediate chains to
 * an active one, so `meshca audit verify` must name a record whose time no
 * longer is the one its lifecycle event recorded, whichever event stamped it:
 * a creation in the active state, an activation, a retirement or a taint.
 * And the creation time, from which `root activate` counts a prepared root's
 * propagation wait.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthorityRecordCheck } from '../../src/ca/audit-authorities.js';
import type { StoredEvent, VerificationResult } from '../../src/ca/audit-verifier.js';
import type { AuthorityRecord } from '../../src/ca/model.js';
import { verifyOverApi } from '../support/audit-log.js';
import { caEngines, eventRows, type TamperableCa } from '../support/ca-engines.js';
import { asOperator } from '../support/callers.js';

/** Over the API and without the server: the two must agree. */
async function verifyBoth(t: TamperableCa): Promise<VerificationResult> {
  const online = await verifyOverApi(t.ca);
  expect(await t.verifyOffline()).toEqual(online);
  return online;
}

interface TimeRow {
  id: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
}

/** A time of one authority and the event that stamped it. */
interface Stamp {
  id: string;
  seq: number;
  at: number;
}

const ALTERED = 'the authority records were altered';

const engines = await caEngines();

describe.each(engines)('authority activation and retirement times against their lifecycle events ($name)', (engine) => {
  let t: TamperableCa;
  let times: TimeRow[];
  /** The first root, created active. */
  let firstRoot: Stamp;
  /** The second root, prepared and then activated. */
  let secondRoot: Stamp;
  /** Its creation, when it was prepared. */
  let secondRootCreated: Stamp;
  /** The first intermediate, tainted (which retires it). */
  let tainted: Stamp;
  /** The taint's replacement, retired when the second root was activated. */
  let retired: Stamp;

  const timesOf = async () => t.sql<TimeRow>('SELECT id, created_at, activated_at, retired_at FROM authorities ORDER BY id');
  const row = (id: string) => times.find((r) => r.id === id)!;
  const eventOf = async (type: string, id: string) => (await eventRows(t)).find((e) => e.type === type && JSON.parse(e.data).id === id)!.seq;

  beforeAll(async () => {
    t = await engine.start();
    const listed = async () => (await asOperator(t.ca, 'GET', '/v1/authorities')).authorities as { id: string; kind: string; state: string }[];
    const [root] = (await listed()).filter((a) => a.kind === 'root');
    const [first] = (await listed()).filter((a) => a.kind === 'intermediate' && a.state === 'active');
    await asOperator(t.ca, 'POST', `/v1/authorities/${first!.id}/taint`);
    const replacement = (await listed()).find((a) => a.kind === 'intermediate' && a.state === 'active')!;
    await asOperator(t.ca, 'POST', '/v1/authorities/root/prepare');
    const prepared = (await listed()).find((a) => a.kind === 'root' && a.state === 'prepared')!;
    await asOperator(t.ca, 'POST', '/v1/authorities/root/activate', { force: true });
    times = await timesOf();
    firstRoot = { id: root!.id, seq: await eventOf('authority.created', root!.id), at: row(root!.id).activated_at! };
    secondRoot = { id: prepared.id, seq: await eventOf('authority.activated', prepared.id), at: row(prepared.id).activated_at! };
    secondRootCreated = { id: prepared.id, seq: await eventOf('authority.created', prepared.id), at: row(prepared.id).created_at };
    tainted = { id: first!.id, seq: await eventOf('authority.tainted', first!.id), at: row(first!.id).retired_at! };
    retired = { id: replacement.id, seq: await eventOf('authority.retired', replacement.id), at: row(replacement.id).retired_at! };
  });
  beforeEach(async () => expect((await verifyBoth(t)).ok).toBe(true));
  afterEach(async () => {
    for (const r of times) {
      await t.sql('UPDATE authorities SET created_at = ?, activated_at = ?, retired_at = ? WHERE id = ?', r.created_at, r.activated_at, r.retired_at, r.id);
    }
  });

  /** Cases of the time in `column`, which the event says the authority was `word` at, changed. */
  const changed = (column: 'created_at' | 'activated_at' | 'retired_at', word: string) => (what: string, stamp: () => Stamp, to: (at: number) => number | null) => ({
    name: `fail/${what}`,
    tamper: () => t.sql(`UPDATE authorities SET ${column} = ? WHERE id = ?`, to(stamp().at), stamp().id),
    problem: () => ({
      seq: stamp().seq,
      reason: `event ${stamp().seq} records that authority ${stamp().id} was ${word} at ${stamp().at}, but it is recorded as ${word} at ${to(stamp().at)}: ${ALTERED}`,
    }),
  });
  const activation = changed('activated_at', 'activated');
  const retirement = changed('retired_at', 'retired');
  const creation = changed('created_at', 'created');

  it.each([
    activation('the first root, created active, recorded as activated a day later (it would be taken for the most recently activated)', () => firstRoot, (at) => at + 86400),
    activation('the first root recorded as never activated', () => firstRoot, () => null),
    activation('the second root, activated by the operator, recorded as activated a day earlier', () => secondRoot, (at) => at - 86400),
    // Had it still been prepared, `root activate` would have counted its propagation wait from then, and asked which agents were not seen since.
    creation('the second root recorded as created (prepared) a day earlier', () => secondRootCreated, (at) => at - 86400),
    retirement('a tainted intermediate recorded as retired an hour later', () => tainted, (at) => at + 3600),
    retirement('an intermediate retired by a root activation recorded as retired a minute earlier', () => retired, (at) => at - 60),
    retirement('an intermediate retired by a root activation recorded as never retired', () => retired, () => null),
  ])('$name', async ({ tamper, problem }) => {
    await tamper();
    const result = await verifyBoth(t);
    expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: false, problem: problem() });
  });
});

describe('lifecycle events of builds before the times were recorded', () => {
  // An intermediate created prepared at 100, activated at 200, retired at 300 and then tainted at 400.
  const record: AuthorityRecord = {
    id: 'aa01', kind: 'intermediate', state: 'retired', parentId: 'bb02', certDer: Buffer.from('certificate'), upstreamChainDer: [],
    notBefore: 100, notAfter: 900, keyRef: 'aa01', createdAt: 100, activatedAt: 200, retiredAt: 300, taintedAt: 400,
  };
  const event = (seq: number, type: string, data: object): StoredEvent => ({ seq, at: 100 * seq, type, actor: 'meshca', dataJson: JSON.stringify({ id: 'aa01', kind: 'intermediate', ...data }), prevHash: '', hash: '' });
  const log = (times: boolean) => [
    event(1, 'authority.created', { state: 'prepared', parent: 'bb02', notBefore: 100, notAfter: 900, ...(times ? { createdAt: 100 } : {}) }),
    event(2, 'authority.activated', times ? { activatedAt: 200 } : {}),
    event(3, 'authority.retired', times ? { retiredAt: 300 } : {}),
    event(4, 'authority.tainted', { wasState: 'retired', ...(times ? { retiredAt: 300, taintedAt: 400 } : {}) }),
  ];

  it.each<[string, boolean, Partial<AuthorityRecord>, { seq: number; reason: string } | undefined]>([
    ['pass/times the events do not record are not held', false, { createdAt: 1, activatedAt: 2, retiredAt: 3, taintedAt: 4 }, undefined],
    ['pass/times they record, as recorded', true, {}, undefined],
    ['fail/an activation time they record, moved', true, { activatedAt: 250 }, { seq: 2, reason: `event 2 records that authority aa01 was activated at 200, but it is recorded as activated at 250: ${ALTERED}` }],
    // The taint kept the retirement's time, and records it again.
    ['fail/a retirement time they record, moved', true, { retiredAt: 350 }, { seq: 4, reason: `event 4 records that authority aa01 was retired at 300, but it is recorded as retired at 350: ${ALTERED}` }],
  ])('%s', (_name, times, change, problem) => {
    const check = new AuthorityRecordCheck();
    for (const e of log(times)) expect(check.event(e)).toBeUndefined();
    const stored = { ...record, ...change };
    expect(check.finish([stored], [stored], 5)).toEqual(problem);
  });
});
