/**
 * The agent's loop publishing through the real publisher on a disk whose
 * directory fsync fails (EIO) right after ..data was swapped: the new SVID
 * is what the proxy reads, so it is what the agent holds as installed, the
 * proxy is reloaded, and the failure is counted and warned of, not retried
 * as a failed installation (which would leave the new SVID pending).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { AtomicDirectoryPublisher } from '../../src/agent/installer.js';
import { Sidecar } from '../../src/agent/sidecar.js';
import { FakeCaApi } from '../support/fake-ca-api.js';
import { FakeClock } from '../support/fake-clock.js';
import { accept, failDirectorySyncsFrom } from '../support/refusing-fs.js';
import { fixedRandom } from '../support/seeded-random.js';
import { tempDir } from '../support/temp-dir.js';

vi.mock('node:fs/promises', async (real) => (await import('../support/refusing-fs.js')).refusingFs(await real<object>()));

/** The serial of the SVID the proxy reads in --out, spelled as the agent keeps it. */
const servedSerial = (out: string) => new X509Certificate(readFileSync(join(out, 'svid.pem'))).serialNumber.toLowerCase();

describe('an installation whose fsync of --out fails after the swap', () => {
  it('counts as made: the agent holds the new SVID as installed and reloads the proxy', async () => {
    accept();
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const ca = await FakeCaApi.create(clock);
    ca.addEntry('spiffe://example.org/ns/web');
    const out = join(tempDir(), 'out');
    const publisher = new AtomicDirectoryPublisher(out, clock);
    const reloads: string[] = [];
    const warnings: string[] = [];
    const sidecar = new Sidecar(
      {
        client: ca,
        publish: (files) => publisher.publish(files),
        reload: async () => void reloads.push(servedSerial(out)),
        clock,
        random: fixedRandom(0.5),
        log: { info: () => undefined, warn: (_obj, msg) => void warnings.push(msg), error: () => undefined },
      },
      { joinToken: 'good-token', keyType: 'ec-p256', syncIntervalMs: 30_000, combined: false },
      ca.bundlePem,
    );
    await sidecar.step();
    const first = sidecar.status().installed!;
    clock.set(first.renewAtMs + 1000);
    // The new version's own sync goes through; the sync of --out after the swap fails.
    failDirectorySyncsFrom(1);
    await sidecar.step();
    accept();

    const served = servedSerial(out);
    expect(served).not.toBe(first.serial);
    expect(sidecar.status().installed?.serial).toBe(served);
    expect(reloads).toEqual([first.serial, served]);
    expect(sidecar.status().reloadPending).toBe(false);
    expect(sidecar.status().counters.outWriteFailures).toBe(1);
    expect(warnings).toContain('installed the SVID in --out, but the disk may lose the change should the host crash before it writes it out');
  });
});
