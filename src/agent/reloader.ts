/** Telling the proxy to pick up new files: run --reload-cmd, or signal the PID in --pid-file. */
import { spawn } from 'node:child_process';
import { AGENT_SECRET_VARIABLES } from '../config/agent-config.js';
import { ProxyPidFile } from './pid-file.js';
import { fileErrorText } from '../platform/file-error-text.js';

/** How long --reload-cmd may run: `nginx -s reload` takes milliseconds, a hung one must not stall the sync loop for long. */
export const DEFAULT_RELOAD_TIMEOUT_MS = 30_000;

/** What of the command's stderr is kept for the error message: enough for nginx's complaint, bounded against a flood. */
const STDERR_KEPT_CHARS = 500;

/**
 * How long, after the command exited and its group was killed, its stderr may
 * take to reach end of file: the pipe still holds what it wrote last. Only a
 * process that left the group (setsid) can hold it open longer, and that must
 * not hold the reload up.
 */
const STDERR_DRAIN_MS = 1_000;

export type ReloadAction = { readonly kind: 'command'; readonly argv: readonly string[]; readonly env: NodeJS.ProcessEnv } | { readonly kind: 'signal'; readonly pidFile: ProxyPidFile; readonly signal: NodeJS.Signals } | { readonly kind: 'none' };

/** The process groups of reload commands still running: a stopping agent ends them (stopReloadCommands). */
const running = new Set<number>();

/**
 * Kills every reload command still running, with its group. The agent calls it
 * as it exits: a command in a group of its own no longer gets the signals a
 * terminal or a supervisor sends the agent's group, and must not outlive it.
 */
export function stopReloadCommands(): void {
  for (const pid of running) killGroup(pid);
}

/** --reload-cmd could not be run or exited with a failure status. */
export class ReloadCommandError extends Error {}

/** --reload-cmd was still running at the timeout; it and everything it started were killed. */
export class ReloadTimeoutError extends Error {}

/** The command runs with the agent's environment, less the secrets the agent itself reads (the join token). */
export function reloadAction(
  options: { reloadCmd?: readonly string[] | undefined; pidFile?: string | undefined; reloadSignal: NodeJS.Signals },
  env: NodeJS.ProcessEnv = process.env,
): ReloadAction {
  if (options.reloadCmd) return { kind: 'command', argv: options.reloadCmd, env: withoutSecrets(env) };
  if (options.pidFile) return { kind: 'signal', pidFile: new ProxyPidFile(options.pidFile), signal: options.reloadSignal };
  return { kind: 'none' };
}

/** Performs the reload once; throws with the reason when it fails. */
export async function performReload(action: ReloadAction, options: { timeoutMs?: number } = {}): Promise<void> {
  switch (action.kind) {
    case 'none':
      return;
    case 'command':
      return runReloadCommand(action.argv, action.env, options.timeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS);
    case 'signal': {
      process.kill(await action.pidFile.pid(), action.signal);
    }
  }
}

/**
 * Runs the command in a process group of its own, so that the whole of it can
 * be killed: at the timeout (SIGTERM to the shell alone would leave a child
 * that ignores it), and once it has exited, whatever it left running. A reload
 * command tells the proxy to reload and is done; a background child holding
 * its stdout would otherwise hold the reload up until the timeout, and one that
 * outlives the agent becomes nobody's. The outcome is the exit status, known
 * when the command exits, not when its output closes.
 */
function runReloadCommand(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  const [program, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { detached: true, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const group = child.pid;
    if (group !== undefined) running.add(group);
    const stderr = boundedText(child.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (group !== undefined) running.delete(group);
      // Not started at all: say why in words (no such program, not executable), not as spawn's "spawn X ENOENT".
      reject(new ReloadCommandError(`--reload-cmd ${program} could not be started: ${err.code === undefined ? err.message : fileErrorText(err)}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      killGroup(group);
      if (group !== undefined) running.delete(group);
      if (timedOut) return reject(new ReloadTimeoutError(`${program} timed out after ${timeoutMs / 1000} s and was killed, with everything it started`));
      if (code === 0) return resolve();
      void stderr.settled().then((text) => reject(new ReloadCommandError(`${program} failed (${code ?? signal}): ${text.trim()}`)));
    });
  });
}

/** The first STDERR_KEPT_CHARS of a stream, read to its end (never left to fill the pipe and block the writer). */
function boundedText(stream: NodeJS.ReadableStream): { settled(): Promise<string> } {
  let text = '';
  const ended = new Promise<void>((resolve) => {
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  stream.on('data', (chunk: Buffer) => {
    if (text.length < STDERR_KEPT_CHARS) text = (text + chunk.toString()).slice(0, STDERR_KEPT_CHARS);
  });
  return {
    settled: async () => {
      await Promise.race([ended, new Promise((r) => setTimeout(r, STDERR_DRAIN_MS).unref())]);
      return text;
    },
  };
}

/** SIGKILL to the process group led by `pid`. Best effort: an empty group (ESRCH) is the usual case, and a throw here would end the agent. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Nothing left to kill.
  }
}

function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !AGENT_SECRET_VARIABLES.includes(name)));
}
