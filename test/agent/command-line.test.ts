/** --reload-cmd is split into argv without a shell, so nothing in it is ever interpreted as shell syntax. */
import { describe, expect, it } from 'vitest';
import { splitCommand } from '../../src/agent/command-line.js';
import { performReload, reloadAction } from '../../src/agent/reloader.js';
import { tempDir } from '../support/temp-dir.js';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cleanupLater } from '../support/cleanup.js';
import { waitFor } from '../support/wait.js';

/** A process standing in for the proxy (the agent refuses to signal itself): it reports the SIGUSR2s it receives. */
async function proxyStandIn(): Promise<{ pid: number; received: () => string[] }> {
  const child = spawn(process.execPath, ['-e', "process.on('SIGUSR2', () => console.log('SIGUSR2')); console.log('ready'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanupLater(() => void child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('the proxy stand-in to start', () => output.includes('ready'), 5_000, 20);
  return { pid: child.pid!, received: () => output.split('\n').filter((line) => line === 'SIGUSR2') };
}

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
    await performReload(reloadAction({ reloadCmd: splitCommand(`node -e "require('fs').writeFileSync(process.argv[1], process.argv[2])" ${marker} '$(whoami);x'`), reloadSignal: 'SIGHUP' }));
    expect(readFileSync(marker, 'utf8')).toBe('$(whoami);x');
  });

  it('reports a failing command with its exit status', async () => {
    await expect(performReload(reloadAction({ reloadCmd: splitCommand('node -e "process.exit(3)"'), reloadSignal: 'SIGHUP' }))).rejects.toThrow(/node failed \(3\)/);
  });

  it('signals the PID read from the pid file at that moment', async () => {
    const pidFile = join(tempDir(), 'proxy.pid');
    const proxy = await proxyStandIn();
    writeFileSync(pidFile, `${proxy.pid}\n`);
    await performReload(reloadAction({ pidFile, reloadSignal: 'SIGUSR2' }));
    await waitFor('the proxy to receive SIGUSR2', () => proxy.received().includes('SIGUSR2'), 5_000, 20);
  });

  it('signals nothing when others can write the pid file (see pid-file.test.ts)', async () => {
    const pidFile = join(tempDir(), 'proxy.pid');
    const proxy = await proxyStandIn();
    writeFileSync(pidFile, `${proxy.pid}\n`);
    chmodSync(pidFile, 0o666);
    await expect(performReload(reloadAction({ pidFile, reloadSignal: 'SIGUSR2' }))).rejects.toThrow(/can be written by every user/);
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.received()).toEqual([]);
  });

  it.each([['garbage', 'not-a-pid'], ['init', '1'], ['empty', '']])('refuses a pid file holding %s', async (_name, content) => {
    const pidFile = join(tempDir(), 'proxy.pid');
    writeFileSync(pidFile, content);
    await expect(performReload(reloadAction({ pidFile, reloadSignal: 'SIGHUP' }))).rejects.toThrow(/does not hold a PID/);
  });
});
