/**
 * When the CRLs a sync brings replace those the agent holds: when they say
 * something else and are newer, when an issuer comes or goes, or when the
 * held ones are past half their validity; never for another replica's copy
 * of the same CRLs (its own signature), nor for older ones.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { worthReplacing } from '../../src/agent/crl-freshness.js';
import { FakeClock } from '../support/fake-clock.js';
import { MiniCa } from '../support/mini-ca.js';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const HOUR = 3600;
const clock = new FakeClock(T0);
let root: MiniCa;
let intermediate: MiniCa;
/** The root's CRL listing nothing, made at T0: what the agent holds. */
let held: string;

/** A CRL of the root made `afterSeconds` after T0, listing `serials`. */
async function rootCrl(afterSeconds: number, serials: readonly string[] = []): Promise<string> {
  clock.set(T0 + afterSeconds * 1000);
  return root.crlPem(serials);
}

beforeAll(async () => {
  clock.set(T0);
  root = await MiniCa.create(clock);
  intermediate = await root.subordinate();
  held = await rootCrl(0);
});

describe('worthReplacing', () => {
  it.each<[string, boolean, () => Promise<string>, number]>([
    ['the same bytes', false, async () => held, 0],
    ["another replica's copy, signed the same second", false, () => rootCrl(0), 0],
    ['the same list made an hour later, the held one young', false, () => rootCrl(HOUR), HOUR],
    ['the same list made later, the held one past half its day', true, () => rootCrl(12 * HOUR), 12 * HOUR],
    ['a newer list with a revocation', true, () => rootCrl(60, ['0badc0de']), 60],
    ['a list with a revocation made the same second (which is newer cannot be told)', false, () => rootCrl(0, ['0badc0de']), 0],
    ['one more issuer (a new intermediate)', true, async () => held + (await intermediate.crlPem([])), 0],
    ['one issuer fewer', true, async () => '', 0],
    ['what cannot be read', true, async () => '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', 0],
  ])('%s: replaces %s', async (_case, expected, next, nowAfter) => {
    expect(worthReplacing(held, await next(), T0 / 1000 + nowAfter)).toBe(expected);
  });

  it('never takes an older list over a newer one: a replica that has not seen a revocation yet does not undo it', async () => {
    const older = await rootCrl(0);
    const newer = await rootCrl(60, ['0badc0de']);
    expect(worthReplacing(newer, older, T0 / 1000 + 61)).toBe(false);
  });

  it('takes the first CRLs there are', async () => {
    expect(worthReplacing(undefined, held, T0 / 1000)).toBe(true);
  });
});
