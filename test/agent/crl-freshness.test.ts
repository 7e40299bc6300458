/**
 * When the CRLs a sync brings replace those the agent holds: when they say
 * something else and are newer (by cRLNumber), when an issuer comes or goes,
 * when those held are past half their validity, or not valid yet; never for
 * another replica's copy of the same CRLs (its own signature), nor for older
 * ones, nor while one of them is not valid yet by this host's clock, nor for
 * expired ones while those held are not.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { crlsValidFrom, worthReplacing } from '../../src/agent/crl-freshness.js';
import { FakeClock } from '../support/fake-clock.js';
import { MiniCa } from '../support/mini-ca.js';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const HOUR = 3600;
const DAY = 24 * HOUR;
const clock = new FakeClock(T0);
let root: MiniCa;
let intermediate: MiniCa;
/** The root's CRL number 5, listing nothing, made at T0: what the agent holds. */
let held: string;

/** A CRL of the intermediate made `afterSeconds` after T0, numbered `crlNumber`, listing nothing. */
async function intermediateCrl(afterSeconds: number, crlNumber: number): Promise<string> {
  clock.set(T0 + afterSeconds * 1000);
  return intermediate.crlPem([], crlNumber);
}

/** A CRL of the root made `afterSeconds` after T0 (before, if negative), numbered `crlNumber`, listing `serials`. */
async function rootCrl(afterSeconds: number, crlNumber: number, serials: readonly string[] = []): Promise<string> {
  clock.set(T0 + afterSeconds * 1000);
  return root.crlPem(serials, crlNumber);
}

beforeAll(async () => {
  clock.set(T0);
  root = await MiniCa.create(clock);
  intermediate = await root.subordinate();
  held = await rootCrl(0, 5);
});

describe('worthReplacing the held CRL (number 5, made at T0, listing nothing)', () => {
  it.each<[string, boolean, () => Promise<string>, number]>([
    ['the same bytes', false, async () => held, 0],
    ["another replica's copy of the same list", false, () => rootCrl(0, 6), 0],
    ['the same list made an hour later, the held one young', false, () => rootCrl(HOUR, 6), HOUR],
    ['the same list made later, the held one past half its day', true, () => rootCrl(12 * HOUR, 6), 12 * HOUR],
    ['a later-numbered list with a revocation', true, () => rootCrl(60, 6, ['0badc0de']), 60],
    ['a later-numbered list with a revocation made in the same second', true, () => rootCrl(0, 6, ['0badc0de']), 0],
    ['an earlier-numbered list with a revocation (made before the held one, by a replica)', false, () => rootCrl(-60, 4, ['0badc0de']), 0],
    ['a later-numbered list made an hour ahead of this host (a replica whose clock runs fast)', false, () => rootCrl(HOUR, 6, ['0badc0de']), 0],
    ['one more issuer (a new intermediate)', true, async () => held + (await intermediateCrl(0, 6)), 0],
    ['one more issuer, its CRL made a minute ahead of this host', false, async () => held + (await intermediateCrl(60, 6)), 0],
    ['a later-numbered list with a revocation, beside another issuer\'s made a minute ahead of this host', false, async () => (await rootCrl(30, 6, ['0badc0de'])) + (await intermediateCrl(60, 6)), 30],
    ['a later-numbered list with a revocation, expired by now (a replica whose CRLs went stale)', false, () => rootCrl(-2 * DAY, 6, ['0badc0de']), 0],
    ['a later-numbered list with a revocation, expired, when the held one has expired too', true, () => rootCrl(DAY / 2, 6, ['0badc0de']), 2 * DAY],
    ['one issuer fewer', true, async () => '', 0],
    ['what cannot be read', true, async () => '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', 0],
  ])('%s: replaces %s', async (_case, expected, next, nowAfter) => {
    expect(worthReplacing(held, await next(), T0 / 1000 + nowAfter)).toBe(expected);
  });

  it('takes a list valid now over a held one made ahead of this host, whatever their numbers', async () => {
    const ahead = await rootCrl(2 * HOUR, 9);
    expect(worthReplacing(ahead, await rootCrl(30, 7), T0 / 1000 + 30)).toBe(true);
  });

  it('takes a fresher list over one past half its validity even when numbered lower (a datastore restored from a backup)', async () => {
    const numberedHigh = await rootCrl(0, 50);
    expect(worthReplacing(numberedHigh, await rootCrl(12 * HOUR, 3), T0 / 1000 + 12 * HOUR)).toBe(true);
  });

  it('takes the first CRLs there are', async () => {
    expect(worthReplacing(undefined, held, T0 / 1000)).toBe(true);
  });

  it('does not take the first CRLs there are while one is not valid yet here, and says from when all are', async () => {
    const first = held + (await intermediateCrl(60, 6));
    expect(worthReplacing(undefined, first, T0 / 1000)).toBe(false);
    expect(crlsValidFrom(first, T0 / 1000)).toBe(T0 / 1000 + 60);
    expect(worthReplacing(undefined, first, T0 / 1000 + 60)).toBe(true);
    expect(crlsValidFrom(first, T0 / 1000 + 60)).toBeUndefined();
  });
});
