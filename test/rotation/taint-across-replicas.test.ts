/**
 * Tainting an intermediate, or retiring a root with --force, on one replica of
 * a CA sharing PostgreSQL: the other replicas stop signing with it within a
 * second, and whatever they signed with it before they noticed is revoked
 * like the rest.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seconds } from '../../src/time/duration.js';
import pino from 'pino';
import { startCa, type RunningCa } from '../../src/cli/ca-runtime.js';
import type { Clock } from '../../src/time/clock.js';
import { cleanupLater } from '../support/cleanup.js';
import { clockNearNow } from '../support/lifecycle-ca.js';
import { startPostgres } from '../support/postgres.js';
import { minted } from '../support/revocations.js';
import { mintSvid } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { testConfig } from '../support/test-ca.js';
import { waitFor } from '../support/wait.js';

const postgres = await startPostgres();
const WEB = 'spiffe://example.org/ns/prod/sa/web';

interface CertificateView {
  readonly issuer: string;
  readonly revokedAt: string | null;
  readonly revocationReason: string | null;
}

/** One replica, in-process on `clock` with schedules off, stopped when the test ends. */
async function startReplica(settings: Record<string, string>, clock: Clock): Promise<RunningCa> {
  const ca = await startCa(testConfig(settings), pino({ level: process.env.MESHCA_TEST_LOG ?? 'silent' }), { schedules: 'off', clock });
  cleanupLater(() => ca.close());
  return ca;
}

async function certificate(ca: RunningCa, serial: string): Promise<CertificateView> {
  const res = await ca.localApp.inject({ method: 'GET', url: `/v1/certificates?serial=${serial}` });
  return res.json<{ certificates: CertificateView[] }>().certificates[0]!;
}

describe.skipIf(!postgres)('a taint on one of two replicas sharing PostgreSQL', () => {
  it('fail/the other replica signs with the tainted intermediate for at most a second, and what it signed meanwhile is revoked', async () => {
    const clock = clockNearNow();
    const passphraseFile = join(tempDir(), 'passphrase');
    writeFileSync(passphraseFile, 'replica test passphrase', { mode: 0o600 });
    const settings = { datastore: await postgres!.database(), 'key-passphrase-file': passphraseFile };
    const a = await startReplica(settings, clock);
    const b = await startReplica(settings, clock);
    const tainted = a.manager.current().activeIntermediate()!.record.id;
    const early = minted(await mintSvid(b.localApp, WEB));

    const res = await a.localApp.inject({ method: 'POST', url: `/v1/authorities/${tainted}/taint` });
    expect(res.statusCode).toBe(200);
    // B looked at the journal for this second when it signed `early`: until the next, it may still sign with it.
    const gap = minted(await mintSvid(b.localApp, WEB));
    expect((await certificate(b, gap)).issuer).toBe(tainted);

    clock.advance(seconds(1));
    const after = minted(await mintSvid(b.localApp, WEB));
    expect((await certificate(b, after)).issuer).not.toBe(tainted);
    for (const serial of [early, gap]) {
      await waitFor(`${serial} to be revoked`, async () => (await certificate(b, serial)).revokedAt !== null, 5_000, 50);
      expect(await certificate(b, serial)).toMatchObject({ issuer: tainted, revocationReason: 'cACompromise' });
    }
    expect((await certificate(b, after)).revokedAt).toBeNull();
  });
});

describe.skipIf(!postgres)('a forced root retirement on one of two replicas sharing PostgreSQL', () => {
  it('fail/what the other replica signed under the retired root before it noticed is revoked once it does', async () => {
    const clock = clockNearNow();
    const passphraseFile = join(tempDir(), 'passphrase');
    writeFileSync(passphraseFile, 'replica test passphrase', { mode: 0o600 });
    const settings = { datastore: await postgres!.database(), 'key-passphrase-file': passphraseFile, 'root-propagation': '1s' };
    const a = await startReplica(settings, clock);
    const b = await startReplica(settings, clock);
    const oldIntermediate = a.manager.current().activeIntermediate()!.record.id;
    await mintSvid(b.localApp, WEB); // B has looked at the journal for this second.

    for (const step of ['prepare', 'activate', 'retire']) {
      const res = await a.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${step}`, payload: step === 'prepare' ? {} : { force: true } });
      expect(res.statusCode, `${step}: ${res.body}`).toBeLessThan(300);
    }
    const gap = minted(await mintSvid(b.localApp, WEB));
    expect((await certificate(b, gap)).issuer).toBe(oldIntermediate);

    clock.advance(seconds(1));
    const after = minted(await mintSvid(b.localApp, WEB));
    expect((await certificate(b, after)).issuer).not.toBe(oldIntermediate);
    await waitFor(`${gap} to be revoked`, async () => (await certificate(b, gap)).revokedAt !== null, 5_000, 50);
    expect(await certificate(b, gap)).toMatchObject({ issuer: oldIntermediate, revocationReason: 'cessationOfOperation' });
    expect((await certificate(b, after)).revokedAt).toBeNull();
  });
});
