/** The CA's renewal booking: every suggestion inside the window, and a fleet's renewals flatter than independent jitter. */
import { describe, expect, it } from 'vitest';
import { renewalTime } from '../../src/agent/timing.js';
import { RenewalSlots } from '../../src/ca/renewal-slots.js';
import { unitRandom } from '../../src/random/random-source.js';
import { seededRandom } from '../support/seeded-random.js';

const T0 = 1_800_000_000;

/** Busiest second against the mean, over the seconds every certificate's window covers. */
function peakToMean(renewals: readonly number[], from: number, to: number): number {
  const perSecond = new Map<number, number>();
  for (const r of renewals) if (r >= from && r < to) perSecond.set(r, (perSecond.get(r) ?? 0) + 1);
  const counts = Array.from({ length: to - from }, (_, i) => perSecond.get(from + i) ?? 0);
  return Math.max(...counts) / (counts.reduce((a, b) => a + b, 0) / counts.length);
}

describe('RenewalSlots', () => {
  it.each([
    ['one hour', 3600, 1620, 1980],
    ['ten minutes', 600, 270, 330],
    ['one day', 86_400, 38_880, 47_520],
    ['ten seconds', 10, 5, 5],
  ])('books a second between 45 %% and 55 %% of a %s lifetime', (_name, life, earliest, latest) => {
    const slots = new RenewalSlots(seededRandom(`window-${life}`));
    const booked = Array.from({ length: 500 }, () => slots.book(T0, T0 + life) - T0);
    expect(Math.min(...booked)).toBeGreaterThanOrEqual(earliest);
    expect(Math.max(...booked)).toBeLessThanOrEqual(latest);
  });

  it('keeps a fleet\'s busiest renewal second close to the mean, where independent jitter reaches 1.4× and more', () => {
    const random = seededRandom('fleet');
    const slots = new RenewalSlots(random);
    // 100,000 one-hour SVIDs issued at random moments of an hour, in time order.
    const issued = Array.from({ length: 100_000 }, () => T0 + Math.floor(unitRandom(random) * 3600)).sort((a, b) => a - b);
    const booked = issued.map((at) => slots.book(at, at + 3600));
    const jittered = issued.map((at) => Math.floor(renewalTime(at * 1000, (at + 3600) * 1000, random) / 1000));
    // Every certificate's window [45 %, 55 %] covers T0+1980 .. T0+3600+1620.
    const [from, to] = [T0 + 1980, T0 + 3600 + 1620];
    expect(peakToMean(booked, from, to)).toBeLessThan(1.2);
    expect(peakToMean(jittered, from, to)).toBeGreaterThan(1.4);
  });

  it('balances against what it booked: a second already busy is avoided', () => {
    const slots = new RenewalSlots(seededRandom('busy'));
    // Ten-second lifetimes have a one-second window: thirty renewals on T0+50.
    for (let i = 0; i < 30; i++) slots.book(T0 + 45, T0 + 55);
    expect(slots.load(T0 + 50)).toBe(30);
    // 100-second lifetimes from T0 may use T0+45 .. T0+55; the busy second is taken only when both random picks are it.
    const booked = Array.from({ length: 220 }, () => slots.book(T0, T0 + 100));
    expect(booked.filter((s) => s === T0 + 50).length).toBeLessThan(5);
    const others = [45, 46, 47, 48, 49, 51, 52, 53, 54, 55].map((s) => slots.load(T0 + s));
    expect(Math.max(...others) - Math.min(...others)).toBeLessThanOrEqual(3);
  });

  it('forgets seconds that have passed', () => {
    const slots = new RenewalSlots(seededRandom('prune'));
    const first = slots.book(T0, T0 + 3600);
    expect(slots.load(first)).toBe(1);
    slots.book(T0 + 10_000, T0 + 13_600);
    expect(slots.load(first)).toBe(0);
    expect(slots.bookedSeconds).toBe(1);
  });
});
