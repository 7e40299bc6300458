/**
 * --pid-file decides which process the agent (often root) signals, so whoever
 * can write the file must not be able to aim that signal at a process they
 * could not signal themselves.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, linkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProxyPid, systemPidFileTrust, type PidFileTrust } from '../../src/agent/pid-file.js';
import { tempDir } from '../support/temp-dir.js';

const PID = 4321;
const me = process.geteuid!();

/**
 * A pid file owned by someone who is neither root nor the agent: as root the
 * file is handed to `nobody`; otherwise it stays ours and the agent is said to
 * run as another user.
 */
function foreignPidFile(content = `${PID}\n`): { path: string; owner: number; agentUser: number } {
  const path = join(tempDir(), 'proxy.pid');
  writeFileSync(path, content, { mode: 0o644 });
  if (me === 0) {
    chownSync(path, 65534, 65534);
    return { path, owner: 65534, agentUser: 0 };
  }
  return { path, owner: me, agentUser: me + 1 };
}

function trust(agentUser: number | undefined, users: Awaited<ReturnType<PidFileTrust['processUsers']>>): PidFileTrust {
  return { agentUser, processUsers: async () => users };
}

describe('a pid file of root or of the agent’s own user', () => {
  it('is believed about any process', async () => {
    const path = join(tempDir(), 'proxy.pid');
    writeFileSync(path, `${PID}\n`, { mode: 0o644 });
    await expect(readProxyPid(path, trust(me, undefined))).resolves.toBe(PID);
  });
});

describe('a pid file of another user', () => {
  it('is believed about a process whose real or saved user is the file’s owner', async () => {
    const { path, owner, agentUser } = foreignPidFile();
    await expect(readProxyPid(path, trust(agentUser, [owner, owner]))).resolves.toBe(PID);
    await expect(readProxyPid(path, trust(agentUser, [owner + 7, owner]))).resolves.toBe(PID);
  });

  it.each([
    ['a process of someone else', (owner: number) => [owner + 7, owner + 7] as const, /names process 4321, which is not that user's/],
    ['a process that is not running', () => 'not-running' as const, /names process 4321, which is not running/],
    ['a process whose owner cannot be told (no /proc)', () => undefined, /whose process 4321 is cannot be told/],
  ])('is refused when it names %s', async (_name, users, message) => {
    const { path, owner, agentUser } = foreignPidFile();
    await expect(readProxyPid(path, trust(agentUser, users(owner)))).rejects.toThrow(message);
  });
});

describe('a pid file others could have written or swapped', () => {
  it.each([
    ['its group', 0o664, /can be written by its group \(mode 664\)/],
    ['every user', 0o646, /can be written by every user \(mode 646\)/],
  ])('is refused when %s can write it, even when root owns it', async (_who, mode, message) => {
    const path = join(tempDir(), 'proxy.pid');
    writeFileSync(path, `${PID}\n`);
    chmodSync(path, mode);
    await expect(readProxyPid(path, trust(me, [me]))).rejects.toThrow(message);
  });

  it('is refused when it has another name (a hard link to someone else’s pid file)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sshd.pid'), `${PID}\n`, { mode: 0o644 });
    linkSync(join(dir, 'sshd.pid'), join(dir, 'proxy.pid'));
    await expect(readProxyPid(join(dir, 'proxy.pid'), trust(me, [me]))).rejects.toThrow(/has 2 names/);
  });

  it('is refused when it is a symbolic link', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sshd.pid'), `${PID}\n`, { mode: 0o644 });
    symlinkSync(join(dir, 'sshd.pid'), join(dir, 'proxy.pid'));
    await expect(readProxyPid(join(dir, 'proxy.pid'), trust(me, [me]))).rejects.toThrow(/is a symbolic link/);
  });

  it('is refused, not waited on, when it is a FIFO', async () => {
    const path = join(tempDir(), 'proxy.pid');
    execFileSync('mkfifo', [path]);
    await expect(readProxyPid(path, trust(me, [me]))).rejects.toThrow(/is not a regular file/);
  });
});

describe('whose process it is, read from /proc', () => {
  it('is the real and saved user of a running process', async () => {
    await expect(systemPidFileTrust.processUsers(process.pid)).resolves.toEqual([process.getuid!(), me]);
  });

  it('is "not running" for a process that has exited', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => child.once('exit', resolve));
    await expect(systemPidFileTrust.processUsers(child.pid!)).resolves.toBe('not-running');
  });
});
