/**
 * The record in --state-dir that the CA refused the agent, against a kill at
 * any step: a restarted agent is refused exactly when no credential the CA
 * still accepts was saved, whatever the step the previous run died at.
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CaRequestError } from '../../src/agent/ca-api.js';
import type { PublishedFile } from '../../src/agent/installer.js';
import { Sidecar } from '../../src/agent/sidecar.js';
import { StateStore } from '../../src/agent/state-store.js';
import { atEveryCrashPoint } from '../support/crashing-fs.js';
import { FakeCaApi } from '../support/fake-ca-api.js';
import { FakeClock } from '../support/fake-clock.js';
import { fixedRandom } from '../support/seeded-random.js';
import { tempDir } from '../support/temp-dir.js';

vi.mock('node:fs/promises', async (real) => (await import('../support/crashing-fs.js')).crashingFs(await real<object>()));

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const evicted = () => new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted');

interface Node {
  readonly clock: FakeClock;
  readonly ca: FakeCaApi;
  readonly stateDir: string;
  /** What the agent's publications left in --out, as a restarted one finds it. */
  out: readonly PublishedFile[] | undefined;
}

/** One run of the agent on `node`, with what the previous one left, after restore(). */
async function agentOn(node: Node, joinToken: string | undefined): Promise<Sidecar> {
  const sidecar = new Sidecar(
    {
      client: node.ca,
      publish: async (files) => void (node.out = files),
      readPublished: async () => node.out,
      reload: async () => undefined,
      clock: node.clock,
      random: fixedRandom(0.5),
      log: quiet,
      state: new StateStore(node.stateDir),
    },
    { joinToken, keyType: 'ec-p256', syncIntervalMs: 30_000, combined: false },
    node.ca.bundlePem,
  );
  await sidecar.restore();
  return sidecar;
}

/** Node-1 installed an SVID with --state-dir; then, optionally, the CA evicted it and a run noticed. */
async function installedNode(o: { evictedAndNoticed: boolean }): Promise<Node> {
  const clock = new FakeClock();
  const ca = await FakeCaApi.create(clock);
  ca.addEntry('spiffe://example.org/ns/web');
  const node: Node = { clock, ca, stateDir: join(tempDir(), 'state'), out: undefined };
  await (await agentOn(node, 'good-token')).step();
  clock.advance(31);
  if (o.evictedAndNoticed) {
    ca.refusals.set('sync', evicted());
    await (await agentOn(node, undefined)).step();
    ca.refusals.delete('sync'); // re-enrolled: a new token's credential is accepted
  }
  return node;
}

describe('a run killed at any step', () => {
  it('while noticing the eviction: the next run (--once, no new token) is refused and not ready, with the SVID still in --out', async () => {
    const problems = await atEveryCrashPoint(
      async () => {
        const node = await installedNode({ evictedAndNoticed: false });
        node.ca.refusals.set('sync', evicted());
        return node;
      },
      async (node) => (await agentOn(node, undefined)).step(),
      async (node) => {
        node.clock.advance(60);
        const next = await agentOn(node, undefined);
        await next.step();
        const seen = { refused: next.status().agentRefused, ready: next.ready(), kept: next.status().installed !== undefined };
        return seen.refused && !seen.ready && seen.kept ? [] : [`the next run is ${JSON.stringify(seen)}`];
      },
    );
    expect(problems).toEqual([]);
  });

  it('while attesting again with a new token: the next run is refused exactly when the new credential was not saved', async () => {
    const problems = await atEveryCrashPoint(
      () => installedNode({ evictedAndNoticed: true }),
      async (node) => (await agentOn(node, 'good-token')).step(),
      async (node) => {
        const saved = (await new StateStore(node.stateDir).load()).credential;
        const next = await agentOn(node, undefined);
        const refused = next.status().agentRefused;
        if (refused === (saved === undefined)) return [];
        return [`refused: ${refused}, with ${saved ? 'a' : 'no'} credential saved`];
      },
    );
    expect(problems).toEqual([]);
  });
});
