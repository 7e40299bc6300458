/**
 * Reading the proxy's PID from --pid-file without letting whoever can write
 * that file choose what the agent signals. The agent often runs as root next
 * to a proxy running as another user; a pid file the proxy's user can write
 * must not aim the agent's SIGHUP at sshd. So the file is read as a regular
 * file of its own (no link, no FIFO that would hang the agent), nobody but its
 * owner may write it, and an owner other than root or the agent's own user is
 * believed only about a process that user could signal anyway: one whose real
 * or saved user is that owner, the test kill(2) applies.
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { readRegularFile } from '../platform/regular-file.js';

/** A pid file holds a number and a newline; anything much longer is not one. */
const MAX_PID_FILE_BYTES = 4096;

export class PidFileError extends Error {}

export interface PidFileTrust {
  /** The agent's own user, whose files it trusts as it trusts root's. */
  readonly agentUser: number | undefined;
  /** The real and saved users of a process; undefined when this cannot be told (no /proc). */
  processUsers(pid: number): Promise<readonly number[] | 'not-running' | undefined>;
}

export const systemPidFileTrust: PidFileTrust = {
  agentUser: process.geteuid?.(),
  processUsers: procStatusUsers,
};

/** The PID in `path`, when the file may be believed about it; throws PidFileError with the reason otherwise. */
export async function readProxyPid(path: string, trust: PidFileTrust): Promise<number> {
  const file = await readRegularFile(path, MAX_PID_FILE_BYTES).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') throw new PidFileError(`${path} is a symbolic link; give the pid file itself`);
    throw err;
  });
  const text = file.data.trim();
  const pid = Number(text);
  if (!/^[0-9]+$/.test(text) || pid <= 1) throw new PidFileError(`${path} does not hold a PID: ${JSON.stringify(text.slice(0, 20))}`);
  if (file.mode & 0o022) {
    throw new PidFileError(`${path} can be written by ${file.mode & 0o002 ? 'every user' : 'its group'} (mode ${file.mode.toString(8)}): whoever writes it would choose which process the agent signals; make it writable by its owner only`);
  }
  if (file.links > 1) throw new PidFileError(`${path} has ${file.links} names (hard links): it may be another program's file; give the proxy a pid file of its own`);
  if (file.owner === 0 || file.owner === trust.agentUser) return pid;
  const users = await trust.processUsers(pid);
  if (users === 'not-running') throw new PidFileError(`${path} names process ${pid}, which is not running`);
  if (users === undefined) throw new PidFileError(`${path} belongs to user ${file.owner}, and whose process ${pid} is cannot be told here; only a pid file of root or of the agent's user is believed without that`);
  if (!users.includes(file.owner)) throw new PidFileError(`${path} belongs to user ${file.owner} but names process ${pid}, which is not that user's: the agent signals only a process the file's owner could signal itself`);
  return pid;
}

/** From /proc/PID/status: "Uid: real effective saved filesystem". */
async function procStatusUsers(pid: number): Promise<readonly number[] | 'not-running' | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return procMounted() ? 'not-running' : undefined;
    throw err;
  }
  const fields = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
  return fields ? [Number(fields[1]), Number(fields[3])] : undefined;
}

function procMounted(): boolean {
  try {
    return statSync('/proc/self/status').isFile();
  } catch {
    return false;
  }
}
