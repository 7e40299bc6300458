/**
 * Reading the proxy's PID from --pid-file without letting whoever can write
 * that file choose what the agent signals. The agent often runs as root next
 * to a proxy running as another user; a pid file the proxy's user can write
 * must not aim the agent's SIGHUP at sshd. So the file is read as a regular
 * file of its own (no link, no FIFO that would hang the agent), nobody but its
 * owner may write it, and an owner other than root or the agent's own user is
 * believed only about a process that user could signal anyway: one whose real
 * or saved user is that owner, the test kill(2) applies. And a file that
 * outlived its proxy must not aim the signal at whichever process got the PID
 * next: a ProxyPidFile remembers the process the file named when last read.
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileErrorText } from '../platform/file-error-text.js';
import { readRegularFile } from '../platform/regular-file.js';

/** A pid file holds a number and a newline; anything much longer is not one. */
const MAX_PID_FILE_BYTES = 4096;

export class PidFileError extends Error {}

export interface PidFileTrust {
  /** The agent's own user, whose files it trusts as it trusts root's. */
  readonly agentUser: number | undefined;
  /** The real and saved users of a process; undefined when this cannot be told (no /proc). */
  processUsers(pid: number): Promise<readonly number[] | 'not-running' | undefined>;
  /** When a process started, in the kernel's ticks since boot (no wall clock to step); undefined when it cannot be told (no /proc). */
  processStart(pid: number): Promise<string | 'not-running' | undefined>;
}

export const systemPidFileTrust: PidFileTrust = {
  agentUser: process.geteuid?.(),
  processUsers: procStatusUsers,
  processStart: procStatStart,
};

/**
 * The proxy's pid file, read afresh for every signal (the proxy may have
 * restarted since). A proxy that dies leaves its file behind, and the PID in
 * it is handed to the next process the system starts: so when the file has
 * not changed since the agent last read it, the process behind the PID must
 * still be the one it named then, or the file is stale; and once it named
 * no running process, it names none while it is unchanged. A proxy that
 * restarts writes its file again, which makes a new start.
 */
export class ProxyPidFile {
  /** The file as last read, and the process it named then ('not-running' for a file its proxy left behind). */
  private named: { readonly stamp: string; readonly pid: number; readonly start: string | undefined } | undefined;

  constructor(
    readonly path: string,
    private readonly trust: PidFileTrust = systemPidFileTrust,
  ) {}

  /** The PID to signal now; throws PidFileError when the file may not be believed about it. */
  async pid(): Promise<number> {
    // What the file names is remembered before its owner is asked about it: a file of another user naming a
    // process that is gone is stale too.
    const read = await readPidFile(this.path);
    const { pid, stamp } = read;
    const start = await this.trust.processStart(pid);
    const last = this.named;
    const unchanged = last !== undefined && last.stamp === stamp && last.pid === pid;
    if (start === 'not-running') {
      // Kept, rather than the process named before: the next process to get this PID must not be believed either.
      if (!unchanged) this.named = { stamp, pid, start };
      throw new PidFileError(`${this.path} names process ${pid}, which is not running: the proxy exited without removing its pid file, or has not written it yet`);
    }
    // A start that cannot be told now, though it could be then, is not taken for the same one.
    if (unchanged && last.start !== undefined && start !== last.start) {
      throw new PidFileError(
        `${this.path} still names process ${pid}, but that is no longer the process it named when the agent last read it: the proxy exited without removing its pid file and its PID went to another process; the agent signals nothing through a stale pid file`,
      );
    }
    await believeOwner(this.path, read, this.trust);
    this.named = { stamp, pid, start };
    return pid;
  }
}

/** The PID in `path`, when the file may be believed about it; throws PidFileError with the reason otherwise. */
export async function readProxyPid(path: string, trust: PidFileTrust): Promise<number> {
  const read = await readPidFile(path);
  await believeOwner(path, read, trust);
  return read.pid;
}

interface PidFileRead {
  readonly pid: number;
  readonly stamp: string;
  readonly owner: number;
}

/** The PID in `path`, when the file itself may be believed: a file of its own, writable by its owner only. */
async function readPidFile(path: string): Promise<PidFileRead> {
  const file = await readRegularFile(path, MAX_PID_FILE_BYTES).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') throw new PidFileError(`${path} is a symbolic link; give the pid file itself`);
    // Named, and said in words: the proxy may not have started (or written its PID) yet, or --pid-file names another path.
    if (err.code === 'ENOENT') throw new PidFileError(`${path} does not exist: has the proxy started and written its PID there (its own pid-file setting)?`);
    if (err.code !== undefined) throw new PidFileError(`cannot read ${path}: ${fileErrorText(err)}`);
    throw err;
  });
  const text = file.data.trim();
  const pid = Number(text);
  if (!/^[0-9]+$/.test(text) || pid <= 1) throw new PidFileError(`${path} does not hold a PID: ${JSON.stringify(text.slice(0, 20))}`);
  // The proxy's reload signal (SIGHUP by default) would reach the agent instead, whoever wrote the file.
  if (pid === process.pid) throw new PidFileError(`${path} names the agent's own process (${pid}), not the proxy's; the agent does not signal itself`);
  if (file.mode & 0o022) {
    throw new PidFileError(`${path} can be written by ${file.mode & 0o002 ? 'every user' : 'its group'} (mode ${file.mode.toString(8)}): whoever writes it would choose which process the agent signals; make it writable by its owner only`);
  }
  if (file.links > 1) throw new PidFileError(`${path} has ${file.links} names (hard links): it may be another program's file; give the proxy a pid file of its own`);
  return { pid, stamp: file.stamp, owner: file.owner };
}

/** Throws unless the file's owner is root, the agent's user, or a user the process named belongs to. */
async function believeOwner(path: string, { pid, owner }: PidFileRead, trust: PidFileTrust): Promise<void> {
  if (owner === 0 || owner === trust.agentUser) return;
  const users = await trust.processUsers(pid);
  if (users === 'not-running') throw new PidFileError(`${path} names process ${pid}, which is not running`);
  if (users === undefined) throw new PidFileError(`${path} belongs to user ${owner}, and whose process ${pid} is cannot be told here; only a pid file of root or of the agent's user is believed without that`);
  if (!users.includes(owner)) throw new PidFileError(`${path} belongs to user ${owner} but names process ${pid}, which is not that user's: the agent signals only a process the file's owner could signal itself`);
}

/** From /proc/PID/status: "Uid: real effective saved filesystem". */
async function procStatusUsers(pid: number): Promise<readonly number[] | 'not-running' | undefined> {
  const status = await readProcFile(pid, 'status');
  if (status === undefined || status === 'not-running') return status;
  const fields = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
  return fields ? [Number(fields[1]), Number(fields[3])] : undefined;
}

/** Field 22 of /proc/PID/stat, counted after the command name, which may itself hold spaces and parentheses. */
async function procStatStart(pid: number): Promise<string | 'not-running' | undefined> {
  const stat = await readProcFile(pid, 'stat');
  if (stat === undefined || stat === 'not-running') return stat;
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // afterName[0] is field 3 (the state), so field 22 is afterName[19].
  return afterName[19];
}

/** /proc/PID/<name>; 'not-running' when there is no such process, undefined when there is no /proc to tell. */
async function readProcFile(pid: number, name: string): Promise<string | 'not-running' | undefined> {
  try {
    return await readFile(`/proc/${pid}/${name}`, 'utf8');
  } catch (err) {
    // ESRCH: the process exited while its file was read.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'ENOENT') return procMounted() ? 'not-running' : undefined;
    throw err;
  }
}

function procMounted(): boolean {
  try {
    return statSync('/proc/self/status').isFile();
  } catch {
    return false;
  }
}
