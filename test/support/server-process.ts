/**
 * Running `meshca server` from dist/ as a child process, as an operator would:
 * on a loopback port the system picks (read back from the "meshca CA listening"
 * log line, so there is no race for a free port), stopped by its own PID.
 */
import { spawn } from 'node:child_process';
import { MESHCA_BIN } from './cli.js';
import { parseLogLines } from './log-lines.js';

export interface ServerProcess {
  readonly pid: number;
  /** "127.0.0.1:PORT", as logged by the server. */
  readonly address: string;
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly socketPath: string;
  /** Everything the server wrote so far (stdout and stderr; pino logs one JSON object a line). */
  output(): string;
  /** The JSON log lines written so far. */
  logLines(): Array<Record<string, unknown>>;
  /**
   * SIGTERM, then waits for the process to exit and resolves to its exit code.
   * If it does not exit in time it is killed with SIGKILL and the promise rejects.
   */
  stop(timeoutMs?: number): Promise<number | null>;
}

export const READY_MESSAGE = 'meshca CA listening';

/**
 * Starts `meshca server --listen 127.0.0.1:0 --log-level info ARGS` (either
 * left out where ARGS give it, as the CLI refuses a flag given twice; the level
 * must stay info or lower, since readiness is read from an info line) and
 * resolves once it is listening. Rejects, with the
 * server's output, when it exits or is not ready within `timeoutMs`.
 */
export function startServer(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000, user?: number): Promise<ServerProcess> {
  const defaults = [['--listen', '127.0.0.1:0'], ['--log-level', 'info']].filter(([flag]) => !args.includes(flag!)).flat();
  const child = spawn(process.execPath, [MESHCA_BIN, 'server', ...defaults, ...args], {
    env: { ...process.env, ...env },
    // As another user (its uid and gid alike), when a test run as root needs to.
    ...(user === undefined ? {} : { uid: user, gid: user }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const logLines = () => parseLogLines(output);

  const stop = async (stopTimeoutMs = 10_000): Promise<number | null> => {
    if (!hasExited) {
      process.kill(pid!, 'SIGTERM');
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), stopTimeoutMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        process.kill(pid!, 'SIGKILL');
        await exited;
        throw new Error(`meshca server (pid ${pid}) did not exit within ${stopTimeoutMs} ms of SIGTERM:\n${output}`);
      }
    }
    return (await exited).code;
  };

  return new Promise((resolve, reject) => {
    if (pid === undefined) {
      reject(new Error('could not spawn meshca server'));
      return;
    }
    let ready = false;
    const timer = setTimeout(() => {
      void stop(2_000).catch(() => undefined);
      reject(new Error(`meshca server was not listening within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready) return;
      const line = logLines().find((l) => l.msg === READY_MESSAGE);
      if (!line) return;
      ready = true;
      clearTimeout(timer);
      const address = String(line.address);
      resolve({
        pid,
        address,
        url: `https://${address}`,
        socketPath: String(line.socket),
        output: () => output,
        logLines,
        stop,
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(({ code, signal }) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`meshca server exited (code ${code}, signal ${signal}) before listening:\n${output}`));
    });
  });
}

/** Whether a process with this PID still exists. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
