/** Cleaning up old versions (immediately past the retention, never the current or previous one), and reading the current one back. */
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicDirectoryPublisher, RETAIN_MS, type PublishedFile } from '../../src/agent/installer.js';
import { tempDir } from '../support/temp-dir.js';

const versions = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data').sort();
const files = (n: number) => [{ name: 'svid.pem', data: `version ${n}`, mode: 0o644 }];

describe('AtomicDirectoryPublisher cleanup', () => {
  it('keeps recent versions for readers, and removes older ones except the previous', async () => {
    const dir = tempDir();
    let offset = 0;
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() + offset });
    const published: string[] = [];
    for (let i = 0; i < 4; i++) published.push(await publisher.publish(files(i)));
    expect(versions(dir)).toEqual([...published].sort());
    offset = RETAIN_MS + 1000; // the first four are now past the retention
    const latest = await publisher.publish(files(4));
    expect(versions(dir)).toEqual([published[3]!, latest].sort());
    expect(readlinkSync(join(dir, '..data'))).toBe(latest);
  });
});

describe('AtomicDirectoryPublisher reading back what is installed', () => {
  it('gives the files of the version ..data points at, with their modes, as they were published', async () => {
    const dir = tempDir();
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() });
    await publisher.publish(files(1));
    const latest = [...files(2), { name: 'svid_key.pem', data: 'key 2', mode: 0o600 }];
    await publisher.publish(latest);
    const byName = (list: readonly PublishedFile[]) => [...list].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName((await publisher.currentFiles())!)).toEqual(byName(latest));
  });

  it('gives nothing before the first publication', async () => {
    expect(await new AtomicDirectoryPublisher(join(tempDir(), 'out'), { nowMs: () => Date.now() }).currentFiles()).toBeUndefined();
  });
});
