/** --reload-cmd is split into argv without a shell, so nothing in it is ever interpreted as shell syntax. */
import { describe, expect, it } from 'vitest';
import { splitCommand } from '../../src/agent/command-line.js';
import { performReload, reloadAction } from '../../src/agent/reloader.js';
import { tempDir } from '../support/temp-dir.js';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

describe('splitting --reload-cmd', () => {
  it.each([
    ['nginx -s reload', ['nginx', '-s', 'reload']],
    ['  nginx   -s\treload  ', ['nginx', '-s', 'reload']],
    [`nginx -c '/etc/my nginx.conf' -s reload`, ['nginx', '-c', '/etc/my nginx.conf', '-s', 'reload']],
    ['echo "a \\"b\\" c"', ['echo', 'a "b" c']],
    [`echo 'no $HOME or \\n here'`, ['echo', 'no $HOME or \\n here']],
    ['echo a\\ b', ['echo', 'a b']],
    ['echo ""', ['echo', '']],
    ['kill -HUP $(cat /run/nginx.pid); rm -rf /', ['kill', '-HUP', '$(cat', '/run/nginx.pid);', 'rm', '-rf', '/']],
    ['a|b>c&&d', ['a|b>c&&d']],
  ])('%s', (line, argv) => {
    expect(splitCommand(line)).toEqual(argv);
  });

  it.each([
    ['unterminated single quote', "echo 'oops", /unterminated ' quote/],
    ['unterminated double quote', 'echo "oops', /unterminated " quote/],
    ['empty', '   ', /empty/],
  ])('refuses an %s', (_name, line, message) => {
    expect(() => splitCommand(line)).toThrow(message);
  });
});

describe('reloading', () => {
  it('runs the command with its arguments and no shell', async () => {
    const dir = tempDir();
    const marker = join(dir, 'out');
    await performReload(reloadAction({ reloadCmd: `node -e "require('fs').writeFileSync(process.argv[1], process.argv[2])" ${marker} '$(whoami);x'`, reloadSignal: 'SIGHUP' }));
    expect(readFileSync(marker, 'utf8')).toBe('$(whoami);x');
  });

  it('reports a failing command with its exit status', async () => {
    await expect(performReload(reloadAction({ reloadCmd: 'node -e "process.exit(3)"', reloadSignal: 'SIGHUP' }))).rejects.toThrow(/node failed \(3\)/);
  });

  it('signals the PID read from the pid file at that moment', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'proxy.pid');
    const received: string[] = [];
    const handler = () => received.push('SIGUSR2');
    process.on('SIGUSR2', handler);
    try {
      writeFileSync(pidFile, `${process.pid}\n`);
      await performReload(reloadAction({ pidFile, reloadSignal: 'SIGUSR2' }));
      await new Promise((r) => setTimeout(r, 50));
      expect(received).toEqual(['SIGUSR2']);
    } finally {
      process.off('SIGUSR2', handler);
    }
  });

  it('signals nothing when others can write the pid file (see pid-file.test.ts)', async () => {
    const pidFile = join(tempDir(), 'proxy.pid');
    const received: string[] = [];
    const handler = () => received.push('SIGUSR2');
    process.on('SIGUSR2', handler);
    try {
      writeFileSync(pidFile, `${process.pid}\n`);
      chmodSync(pidFile, 0o666);
      await expect(performReload(reloadAction({ pidFile, reloadSignal: 'SIGUSR2' }))).rejects.toThrow(/can be written by every user/);
      await new Promise((r) => setTimeout(r, 50));
      expect(received).toEqual([]);
    } finally {
      process.off('SIGUSR2', handler);
    }
  });

  it.each([['garbage', 'not-a-pid'], ['init', '1'], ['empty', '']])('refuses a pid file holding %s', async (_name, content) => {
    const pidFile = join(tempDir(), 'proxy.pid');
    writeFileSync(pidFile, content);
    await expect(performReload(reloadAction({ pidFile, reloadSignal: 'SIGHUP' }))).rejects.toThrow(/does not hold a PID/);
  });
});
