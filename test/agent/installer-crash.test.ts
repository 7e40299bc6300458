/**
 * What a publication killed at any step leaves in --out, as the restarted
 * agent finds it: AtomicDirectoryPublisher.currentFiles() is what it reads at
 * start, and the proxy then reads the stable names.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { AtomicDirectoryPublisher, type PublishedFile } from '../../src/agent/installer.js';
import { atEveryCrashPoint } from '../support/crashing-fs.js';
import { tempDir } from '../support/temp-dir.js';

vi.mock('node:fs/promises', async (real) => (await import('../support/crashing-fs.js')).crashingFs(await real<object>()));

const clock = { nowMs: () => Date.now() };

const version = (n: number, extra: readonly string[] = []): PublishedFile[] =>
  ['svid.pem', 'svid_key.pem', 'bundle.pem', ...extra].map((name) => ({ name, data: `${name} of version ${n}`, mode: name === 'svid_key.pem' ? 0o600 : 0o644 }));

/** Every stable name the restarted agent reports must read as that file of one and the same version. */
function stableNamesProblems(dir: string, found: readonly PublishedFile[]): string[] {
  return found.flatMap((f) => {
    try {
      const data = readFileSync(join(dir, f.name), 'utf8');
      return data === f.data ? [] : [`${f.name} reads ${JSON.stringify(data)}, not ${JSON.stringify(f.data)}`];
    } catch (err) {
      return [`${f.name}: ${(err as NodeJS.ErrnoException).code}`];
    }
  });
}

/**
 * What the proxy reads right after the kill, before any agent runs again:
 * once ..data names a version, every file of it is under its stable name.
 */
function proxyViewProblems(dir: string): string[] {
  const data = join(dir, '..data');
  if (!existsSync(data)) return [];
  return readdirSync(data).flatMap((name) => {
    try {
      return readFileSync(join(dir, name), 'utf8') === readFileSync(join(data, name), 'utf8') ? [] : [`before restart, ${name} is not ..data/${name}`];
    } catch (err) {
      return [`before restart, ${name}: ${(err as NodeJS.ErrnoException).code}`];
    }
  });
}

describe('a publication killed at any step', () => {
  it.each([
    { name: 'the first one, into an empty --out', before: [] as PublishedFile[][] },
    { name: 'one over an earlier one, adding crl.pem', before: [version(1)] },
  ])('$name: the restarted agent finds every stable name in place and no temporary left', async ({ before }) => {
    const problems = await atEveryCrashPoint(
      async () => {
        const dir = join(tempDir(), 'out');
        for (const files of before) await new AtomicDirectoryPublisher(dir, clock).publish(files);
        return dir;
      },
      (dir) => new AtomicDirectoryPublisher(dir, clock).publish(version(2, ['crl.pem'])),
      async (dir) => {
        const beforeRestart = proxyViewProblems(dir);
        const found = await new AtomicDirectoryPublisher(dir, clock).currentFiles();
        const lost = found === undefined && before.length > 0 ? ['the version installed before was lost'] : [];
        const leftovers = (existsSync(dir) ? readdirSync(dir) : []).filter((n) => n.endsWith('.tmp')).map((n) => `left ${n}`);
        return [...beforeRestart, ...(found ? stableNamesProblems(dir, found) : []), ...lost, ...leftovers];
      },
    );
    expect(problems).toEqual([]);
  });
});
