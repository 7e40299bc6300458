/**
 * RevocationService.revoke by serial against each datastore (PostgreSQL where
 * one can be started): a serial the store has no record of is refused with
 * NotFoundError and changes nothing, audit log included; a known one is
 * revoked once, and again revokes none.
 */
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/ca/audit-verifier.js';
import type { AuthorityManager } from '../../src/ca/authority-manager.js';
import type { CrlService } from '../../src/ca/crl-service.js';
import { RevocationService } from '../../src/ca/revocation-service.js';
import { NotFoundError } from '../../src/errors.js';
import type { Datastore } from '../../src/store/datastore.js';
import { engines } from '../support/datastores.js';
import { FakeClock } from '../support/fake-clock.js';
import { issued } from '../support/store-records.js';

async function events(store: Datastore): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  for await (const e of store.audit.events()) all.push(e);
  return all;
}

describe.each(await engines())('RevocationService.revoke by serial, $name datastore', (engine) => {
  it('fail/unknown serial → NotFoundError, nothing audited; pass/known → its serial, then none', async () => {
    const clock = new FakeClock();
    const { store } = await engine.open(clock);
    const now = clock.nowSeconds();
    const known = issued('0a1b', now);
    await store.certificates.recordIssued(known.record, known.event);
    let invalidated = 0;
    const crls = { invalidate: () => void invalidated++ } as unknown as CrlService;
    const service = new RevocationService({ store: store.certificates, crls, manager: {} as AuthorityManager, clock });
    const before = await events(store);

    await expect(service.revoke({ serial: '4e11e6e05b181ed5aa38faf837de233f' }, 'keyCompromise', 'operator:local')).rejects.toThrow(
      new NotFoundError('certificate with serial 4e11e6e05b181ed5aa38faf837de233f'),
    );
    expect(await events(store)).toEqual(before);
    expect(invalidated).toBe(0);
    expect(await store.certificates.revocationCount()).toBe(0);

    expect(await service.revoke({ serial: '0a1b' }, 'keyCompromise', 'operator:local')).toEqual(['0a1b']);
    expect(await service.revoke({ serial: '0a1b' }, 'keyCompromise', 'operator:local')).toEqual([]);
    expect((await events(store)).slice(before.length).map((e) => JSON.parse(e.dataJson) as unknown)).toEqual([
      { serial: '0a1b', reason: 'keyCompromise', count: 1, revokedAt: now, throughNotAfter: true },
      { serial: '0a1b', reason: 'keyCompromise', count: 0, revokedAt: now, throughNotAfter: true },
    ]);
  });
});
