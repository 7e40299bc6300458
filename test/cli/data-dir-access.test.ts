/**
 * The data directory is where the CA keeps its keys and the operator socket
 * the CLI trusts: a server refuses one another user owns, and the CLI refuses
 * a socket the CA's user did not make (world-writable volumes are common).
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMeshca } from '../support/cli.js';
import { cleanupLater } from '../support/cleanup.js';
import { startTestCa } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';

/** nobody: a user other than the one running the tests (root here, and in CI). */
const OTHER_USER = 65534;

describe('the data directory', () => {
  it.skipIf(process.geteuid?.() !== 0)('fail/owned by another user (not root): refused, since its owner could replace the socket', async () => {
    const dataDir = join(tempDir('foreign'), 'data');
    mkdirSync(dataDir);
    chownSync(dataDir, OTHER_USER, OTHER_USER);
    await expect(startTestCa({ 'data-dir': dataDir })).rejects.toThrow(`it belongs to user ${OTHER_USER}, not to this one (0) or root`);
  });

  it.skipIf(process.geteuid?.() !== 0).each(['keys', 'meshca.db'])('fail/every user may write to it, and %s there is another user\'s: refused, as planted', async (name) => {
    const dataDir = join(tempDir('planted'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o1777);
    if (name === 'keys') mkdirSync(join(dataDir, name));
    else writeFileSync(join(dataDir, name), '');
    chownSync(join(dataDir, name), OTHER_USER, OTHER_USER);
    await expect(startTestCa({ 'data-dir': dataDir })).rejects.toThrow(`${join(dataDir, name)} belongs to user ${OTHER_USER}, not to this one (0) or root, in a data directory others may write to`);
  });

  it.each([
    ['pass/every user may write to it, sticky, as Kubernetes makes an emptyDir (3777 with fsGroup)', 0o3777],
    ['pass/every user may write to it, as some volume provisioners make one (2777)', 0o2777],
    ['pass/its group may write to it (fsGroup)', 0o2770],
  ])('%s: the CA starts', async (_name, mode) => {
    const dataDir = join(tempDir('loose'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, mode);
    const ca = await startTestCa({ 'data-dir': dataDir });
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('the CLI and the operator socket', () => {
  it.skipIf(process.geteuid?.() !== 0)('fail/a socket another user made in the data directory is not taken for the CA (exit 1)', async () => {
    const dataDir = tempDir('planted');
    const planted = createServer((c) => c.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
    await new Promise<void>((resolve) => planted.listen(join(dataDir, 'meshca.sock'), resolve));
    cleanupLater(() => new Promise<void>((resolve) => planted.close(() => resolve())));
    chownSync(join(dataDir, 'meshca.sock'), OTHER_USER, OTHER_USER);

    const run = await runMeshca(['bundle', '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`belongs to user ${OTHER_USER}, neither root, the data directory's owner`);
  });
});
