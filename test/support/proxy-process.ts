/**
 * A proxy (nginx, HAProxy) running in the foreground as a child of the test:
 * whether its port accepts yet, and stopping it by the PID that was spawned,
 * once, at the latest when the test's cleanup runs.
 */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { cleanupLater } from './cleanup.js';

/** Whether something accepts TCP connections on the loopback port now. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface SupervisedProxy {
  readonly pid: number;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  running(): boolean;
  /** SIGTERM to the spawned PID, then waits for it to exit; SIGKILL (and a rejection) after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Follows a spawned proxy (stdio piped) and registers its stop with the test's cleanup. */
export function supervise(child: ChildProcess, name: string): SupervisedProxy {
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${name}`);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let hasExited = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      hasExited = true;
      resolve();
    }),
  );
  const stop = async (timeoutMs = 10_000) => {
    if (hasExited) return;
    process.kill(pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    if ((await Promise.race([exited, timer])) === 'timeout') {
      process.kill(pid, 'SIGKILL');
      await exited;
      throw new Error(`${name} (pid ${pid}) did not exit within ${timeoutMs} ms of SIGTERM`);
    }
  };
  cleanupLater(() => stop().catch(() => undefined));
  return { pid, output: () => output, running: () => !hasExited, stop };
}
