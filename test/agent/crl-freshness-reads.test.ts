/**
 * A sync that brings CRL text the agent read lately costs no second reading
 * of it: a CRL of many entries takes long to read, and every sync brings
 * one. Counted on readCrlContent, which does the reading.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { crlsValidFrom, worthReplacing } from '../../src/agent/crl-freshness.js';
import { readCrlContent } from '../../src/x509/crl-reader.js';
import { MiniCa } from '../support/mini-ca.js';

vi.mock('../../src/x509/crl-reader.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/x509/crl-reader.js')>();
  return { ...original, readCrlContent: vi.fn(original.readCrlContent) };
});

const reads = vi.mocked(readCrlContent);
const now = () => Math.floor(Date.now() / 1000);

describe('reading the CRLs a sync brings', () => {
  let ca: MiniCa;
  beforeAll(async () => {
    ca = await MiniCa.create();
  });

  it('reads a text once however many syncs bring it, the held one and a replica\'s copy alike', async () => {
    const held = await ca.crlPem(['0a'], 2);
    // Another replica's copy: the same CRL, its own signature.
    const replicas = await ca.crlPem(['0a'], 2);
    reads.mockClear();
    for (let sync = 0; sync < 5; sync++) {
      crlsValidFrom(held, now());
      worthReplacing(held, replicas, now());
      crlsValidFrom(replicas, now());
    }
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('reads a new text, and what it says decides as before: a newer CRL that revokes more replaces the one held', async () => {
    const held = await ca.crlPem([], 3);
    const newer = await ca.crlPem(['0b'], 4);
    reads.mockClear();
    expect(worthReplacing(held, newer, now())).toBe(true);
    expect(worthReplacing(newer, held, now())).toBe(false);
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
