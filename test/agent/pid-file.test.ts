/**
 * --pid-file decides which process the agent (often root) signals, so whoever
 * can write the file must not be able to aim that signal at a process they
 * could not signal themselves.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, linkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PidFileError, ProxyPidFile, readProxyPid, systemPidFileTrust, type PidFileTrust } from '../../src/agent/pid-file.js';
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
  return { agentUser, processUsers: async () => users, processStart: async () => '1000' };
}

describe('a pid file of root or of the agent’s own user', () => {
  it('is believed about any process', async () => {
    const path = join(tempDir(), 'proxy.pid');
    writeFileSync(path, `${PID}\n`, { mode: 0o644 });
    await expect(readProxyPid(path, trust(me, undefined))).resolves.toBe(PID);
  });
});

describe('a pid file naming the agent’s own process', () => {
  it.each([
    ['the agent’s own user', () => ({ path: join(tempDir(), 'proxy.pid'), owner: me, agentUser: me })],
    ['another user', () => foreignPidFile()],
  ])('is refused, even when it belongs to %s', async (_owner, pidFile) => {
    const { path, owner, agentUser } = pidFile();
    writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
    await expect(readProxyPid(path, trust(agentUser, [owner, owner]))).rejects.toThrow(/names the agent's own process/);
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

  it('is refused naming it when it does not exist, asking whether the proxy wrote it', async () => {
    const path = join(tempDir(), 'proxy.pid');
    await expect(readProxyPid(path, trust(me, [me]))).rejects.toThrow(
      new PidFileError(`${path} does not exist: has the proxy started and written its PID there (its own pid-file setting)?`),
    );
  });

  it('is refused, not waited on, when it is a FIFO', async () => {
    const path = join(tempDir(), 'proxy.pid');
    execFileSync('mkfifo', [path]);
    await expect(readProxyPid(path, trust(me, [me]))).rejects.toThrow(/is not a regular file/);
  });
});

describe('a pid file the proxy left behind', () => {
  /** The agent's pid file reader, where the process behind the PID started at whatever `starts` says now. */
  function proxyPidFile(): { path: string; file: ProxyPidFile; starts: { now: string | undefined } } {
    const path = join(tempDir(), 'proxy.pid');
    writeFileSync(path, `${PID}\n`, { mode: 0o644 });
    const starts: { now: string | undefined } = { now: '1000' };
    return { path, file: new ProxyPidFile(path, { agentUser: me, processUsers: async () => [me], processStart: async () => starts.now }), starts };
  }

  it('is refused, unchanged, once its PID belongs to a process started since the agent last signalled through it', async () => {
    const { file, starts } = proxyPidFile();
    await file.pid();
    starts.now = '2000';
    await expect(file.pid()).rejects.toThrow(/still names process 4321, but that is no longer the process it named .* stale pid file/);
  });

  it.each([
    ['rewritten with the same PID (a proxy that restarted and got its old PID back)', (path: string) => writeFileSync(path, `${PID}\n`)],
    ['given a new modification time', (path: string) => utimesSync(path, new Date(), new Date(Date.now() + 5_000))],
  ])('is believed about a new process once %s', async (_how, rewrite) => {
    const { path, file, starts } = proxyPidFile();
    await file.pid();
    starts.now = '2000';
    rewrite(path);
    await expect(file.pid()).resolves.toBe(PID);
  });

  // What each read finds behind the PID, in order: its start time, 'not-running', or undefined for no /proc.
  it.each([
    ['named a process that then exited, and one started since got its PID', ['1000', 'not-running', '2000'], ['4321', 'not running', 'stale']],
    ['named no process from the first read, and one started since got its PID', ['not-running', '2000'], ['not running', 'stale']],
    ['named a process whose start can no longer be told, and one started since got its PID', ['1000', undefined, '2000'], ['4321', 'stale', 'stale']],
    ['named a process that ran all along', ['1000', '1000', '1000'], ['4321', '4321', '4321']],
    ['is read where no start can be told (no /proc)', [undefined, undefined], ['4321', '4321']],
  ])('unchanged, when it %s', async (_case, found, expected) => {
    const { file, starts } = proxyPidFile();
    const given: string[] = [];
    for (const start of found) {
      starts.now = start;
      given.push(
        await file.pid().then(
          (pid) => String(pid),
          (err: Error) => (/stale pid file/.test(err.message) ? 'stale' : /which is not running/.test(err.message) ? 'not running' : err.message),
        ),
      );
    }
    expect(given).toEqual(expected);
  });
});

describe('a pid file of another user that the proxy left behind', () => {
  it('is refused, unchanged, once its PID belongs to another process of that user', async () => {
    const { path, owner, agentUser } = foreignPidFile();
    const behindPid = { users: 'not-running' as Awaited<ReturnType<PidFileTrust['processUsers']>>, start: 'not-running' as string | undefined };
    const file = new ProxyPidFile(path, { agentUser, processUsers: async () => behindPid.users, processStart: async () => behindPid.start });
    await expect(file.pid()).rejects.toThrow(/names process 4321, which is not running/);
    Object.assign(behindPid, { users: [owner, owner], start: '2000' });
    await expect(file.pid()).rejects.toThrow(/still names process 4321, but that is no longer the process it named .* stale pid file/);
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
    await expect(systemPidFileTrust.processStart(child.pid!)).resolves.toBe('not-running');
  });

  it('has a start time that stays the same for a process and is later for one started after it', async () => {
    const own = await systemPidFileTrust.processStart(process.pid);
    expect(own).toMatch(/^[0-9]+$/);
    await expect(systemPidFileTrust.processStart(process.pid)).resolves.toBe(own);
    // Ticks are 10 ms: a process started 50 ms after this test's worker began has a later start.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' });
    try {
      const childStart = await systemPidFileTrust.processStart(child.pid!);
      expect(Number(childStart)).toBeGreaterThan(Number(own));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
