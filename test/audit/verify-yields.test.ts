/**
 * A CA verifying its own log walks it in the process that issues: the walk
 * must let the event loop turn (timers, requests) while it goes, not hold it
 * until the last event, however quickly the store hands the events over.
 */
import { describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import { verifyAuditLog, type StoredEvent } from '../../src/ca/audit-verifier.js';

/** A well-chained log of `n` join-token creations. */
function chainedLog(n: number): StoredEvent[] {
  const events: StoredEvent[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const fields = {
      seq,
      at: 1_000 + seq,
      type: 'token.created',
      actor: 'operator:root',
      dataJson: JSON.stringify({ agent: `node-${seq % 50}`, expiresAt: 5_000, tokenHash: seq.toString(16).padStart(16, '0') }),
      prevHash,
    };
    prevHash = eventHash(fields);
    events.push({ ...fields, hash: prevHash });
  }
  return events;
}

/** Hands the events over as a store that already holds them does: each await settles at once. */
async function* alreadyRead(events: readonly StoredEvent[]): AsyncGenerator<StoredEvent> {
  for (const e of events) yield e;
}

describe('verifying a long log', () => {
  it('lets a timer due meanwhile run before the walk ends', async () => {
    const events = chainedLog(20_000);
    let timerRan = false;
    // Due a millisecond from now; the walk of 20,000 events takes tens of them.
    const timer = new Promise<void>((resolve) => setTimeout(() => resolve(void (timerRan = true)), 1));
    let timerRanFirst: boolean | undefined;
    const result = await verifyAuditLog({ events: alreadyRead(events), checkpoints: [], signerCertificate: () => undefined }).then((r) => {
      timerRanFirst = timerRan;
      return r;
    });
    await timer;
    expect({ ok: result.ok, events: result.events, timerRanFirst }).toEqual({ ok: true, events: 20_000, timerRanFirst: true });
  });
});
