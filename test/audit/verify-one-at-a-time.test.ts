/**
 * A CA verifies its log one walk at a time: each walk shares the process that
 * issues, so a second caller while one runs is told to come back (429 with a
 * Retry-After) rather than given a walk of its own.
 */
import { describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import { AuditService, type AuditStorePort } from '../../src/ca/audit-service.js';
import type { StoredEvent } from '../../src/ca/audit-verifier.js';
import type { AuthorityJournal } from '../../src/ca/ports.js';
import { RateLimitedError } from '../../src/errors.js';
import { FakeClock } from '../support/fake-clock.js';
import { startTestCa } from '../support/test-ca.js';
import { waitFor } from '../support/wait.js';

/** One event of a well-chained log. */
function firstEvent(): StoredEvent {
  const fields = { seq: 1, at: 1_000, type: 'ca.started', actor: 'self', dataJson: '{}', prevHash: GENESIS_HASH };
  return { ...fields, hash: eventHash(fields) };
}

/** A store whose log is handed over only once `release` is called, so that a walk can be held in flight; `hold` holds the next. */
function heldStore(): { store: AuditStorePort; release: () => void; hold: () => void } {
  let gate!: Promise<void>;
  let open!: () => void;
  const hold = () => void (gate = new Promise<void>((resolve) => (open = resolve)));
  hold();
  const store: AuditStorePort = {
    head: async () => undefined,
    async *events() {
      await gate;
      yield firstEvent();
    },
    checkpoints: async () => [],
    newestCheckpoint: async () => undefined,
    latestEventData: async () => undefined,
    hasEventsAfter: async () => false,
    saveCheckpoint: async () => undefined,
    append: async () => undefined,
  };
  return { store, release: () => open(), hold };
}

const journal = { listAuthorities: async () => [] } as Partial<AuthorityJournal> as AuthorityJournal;

describe('AuditService.verify', () => {
  it('fail/a second verification while one walks the log is refused with a retry time, and nothing is walked for it', async () => {
    const { store, release } = heldStore();
    const audit = new AuditService({ store, authorities: { current: () => { throw new Error('not read by verify'); }, catchUp: async () => undefined }, journal, clock: new FakeClock() });
    const first = audit.verify();
    const second = audit.verify();
    await expect(second).rejects.toBeInstanceOf(RateLimitedError);
    await expect(second).rejects.toMatchObject({
      code: 'rate_limited',
      retryAfterSeconds: 1,
      message: 'an audit verification is already running on this CA, and they run one at a time; retry after 1s',
    });
    release();
    expect(await first).toMatchObject({ ok: true, events: 1 });
  });

  it('pass/the retry time asked of a second caller is about as long as the last walk took, by the CA\'s clock', async () => {
    const { store, release, hold } = heldStore();
    const clock = new FakeClock();
    const audit = new AuditService({ store, authorities: { current: () => { throw new Error('not read by verify'); }, catchUp: async () => undefined }, journal, clock });
    const first = audit.verify();
    clock.advance(7);
    release();
    await first;
    hold();
    const second = audit.verify();
    await expect(audit.verify()).rejects.toMatchObject({ retryAfterSeconds: 7 });
    release();
    await second;
  });

  it('pass/once a walk has ended, whether it verified or threw, the next one runs', async () => {
    const { store, release } = heldStore();
    release();
    const failing: AuditStorePort = { ...store, checkpoints: async () => Promise.reject(new Error('disk I/O error')) };
    const deps = { authorities: { current: () => { throw new Error('not read by verify'); }, catchUp: async () => undefined }, journal, clock: new FakeClock() };
    const audit = new AuditService({ ...deps, store });
    expect(await audit.verify()).toMatchObject({ ok: true });
    expect(await audit.verify()).toMatchObject({ ok: true });
    const broken = new AuditService({ ...deps, store: failing });
    await expect(broken.verify()).rejects.toThrow('disk I/O error');
    await expect(broken.verify()).rejects.toThrow('disk I/O error');
  });

  it('fail/options given as a function are read only by the walk that runs, not for a caller turned away', async () => {
    const { store, release } = heldStore();
    const audit = new AuditService({ store, authorities: { current: () => { throw new Error('not read by verify'); }, catchUp: async () => undefined }, journal, clock: new FakeClock() });
    const read: string[] = [];
    const first = audit.verify(() => (read.push('first'), {}));
    await expect(audit.verify(() => (read.push('second'), {}))).rejects.toBeInstanceOf(RateLimitedError);
    release();
    await first;
    expect(read).toEqual(['first']);
  });
});

describe('POST /v1/audit/verify while a verification runs', () => {
  it('fail/is answered 429 before its pinned trust bundle is read, whatever the bundle holds', async () => {
    const ca = await startTestCa();
    // The log is handed over only once released, so that the first verification stays in flight.
    const events = ca.store.audit.events.bind(ca.store.audit);
    let walking = false;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    ca.store.audit.events = async function* (...args: Parameters<typeof events>) {
      walking = true;
      await gate;
      yield* events(...args);
    };
    const first = ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} });
    await waitFor('the first verification walking the log', () => walking, 5000, 10);
    // Unreadable: parsed first, it would be refused 400, having cost the parse.
    const second = await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: { trustBundle: 'no certificate here' } });
    expect([second.statusCode, second.json().error.code]).toEqual([429, 'rate_limited']);
    release();
    expect((await first).json()).toMatchObject({ ok: true });
  });
});
