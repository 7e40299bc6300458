/**
 * The operator socket's path must fit a unix socket's address (107 bytes):
 * libuv cuts a longer one short, so the server bound another name and then
 * failed (exit 1, restarted for ever by systemd). The server binds through
 * the data directory's resolved path, or through the path as given when only
 * that one fits, where the CLI connects; a data directory neither leaves room
 * in is refused at start.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { addressableSocketPath, MAX_SOCKET_PATH } from '../../src/cli/local-socket.js';
import { runMeshca } from '../support/cli.js';
import { isRunning, startServer } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;
/** A directory name that, with meshca.sock after it, leaves any path past 107 bytes. */
const LONG = 'd'.repeat(MAX_SOCKET_PATH);

describe('addressableSocketPath', () => {
  const short = '/var/lib/meshca';
  const long = `/srv/${LONG}`;
  it.each<[string, string, string, string | undefined]>([
    ['the resolved path when it fits', short, '/data', `${short}/meshca.sock`],
    ['the given path when only it fits', long, '/data', '/data/meshca.sock'],
    ['the resolved path when the given one does not fit', short, long, `${short}/meshca.sock`],
    ['none when neither fits', long, `${long}/x`, undefined],
    ['a path of exactly 107 bytes', `/${'a'.repeat(MAX_SOCKET_PATH - '/meshca.sock'.length - 1)}`, long, `/${'a'.repeat(94)}/meshca.sock`],
  ])('%s', (_name, resolved, given, expected) => {
    expect(addressableSocketPath(resolved, given)).toBe(expected);
  });
});

describe('meshca server on a data directory with a long path', () => {
  it('pass/reached through a short link: binds through the link, and the CLI given the link reaches it', async () => {
    const base = tempDir();
    const real = join(base, LONG);
    mkdirSync(real, { mode: 0o700 });
    const link = join(base, 'd');
    symlinkSync(real, link);
    const server = await startServer(['--data-dir', link]);
    onTestFinished(async () => {
      expect(await server.stop()).toBe(0);
      expect(isRunning(server.pid)).toBe(false);
    });
    expect(readdirSync(real)).toContain('meshca.sock');
    const bundle = await runMeshca(['bundle', '--data-dir', link]);
    expect(bundle.code, bundle.stderr).toBe(0);
    expect(bundle.stdout).toContain('-----BEGIN CERTIFICATE-----');
  });

  it('fail/no path to it leaves room for the socket → exit 78 naming the limit, before any PKI is made', async () => {
    const dataDir = join(tempDir(), LONG);
    const res = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    expect(res.code, res.stderr).toBe(EX_CONFIG);
    expect(res.stderr).toContain(`--data-dir ${dataDir}: the operator socket's path there (${Buffer.byteLength(join(dataDir, 'meshca.sock'))} bytes) is longer than a unix socket's address holds (107 bytes)`);
    expect(existsSync(join(dataDir, 'meshca.db'))).toBe(false);
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
