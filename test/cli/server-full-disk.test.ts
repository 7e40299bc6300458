/**
 * A CA whose stdout (its log) is a file on a full disk keeps serving and stops
 * on SIGTERM: log lines it cannot write are dropped, never retried in a loop
 * that blocks everything else. /dev/full answers every write with ENOSPC.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupLater } from '../support/cleanup.js';
import { MESHCA_BIN } from '../support/cli.js';
import { getOverSocket } from '../support/http-client.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';

describe('meshca server logging to a full disk', () => {
  it('answers requests and stops on SIGTERM', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [MESHCA_BIN, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', full, 'pipe'] });
    closeSync(full);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanupLater(() => void (child.exitCode === null && child.kill('SIGKILL')));

    const socket = join(dataDir, 'meshca.sock');
    await waitFor('the CA to answer on its socket', async () => existsSync(socket) && (await getOverSocket(socket, '/readyz').then((r) => r.status === 200, () => false)), 30_000);
    for (let i = 0; i < 20; i++) expect((await getOverSocket(socket, '/healthz')).status).toBe(200);

    child.kill('SIGTERM');
    expect(await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))]), stderr).toBe(0);
  });
});
