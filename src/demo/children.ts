/**
 * The demo's child processes: the real `meshca server` and `meshca-agent`
 * from dist/, run the way an operator runs them. Their JSON logs are kept in
 * memory (shown only if something goes wrong) and each is stopped by the PID
 * that was spawned, never by name.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** dist/src/cli/, next to this file's dist/src/demo/. */
const CLI_DIR = resolve(import.meta.dirname, '../cli');
export const MESHCA_BIN = resolve(CLI_DIR, 'meshca.js');
export const AGENT_BIN = resolve(CLI_DIR, 'meshca-agent.js');

export type LogLine = Record<string, unknown>;

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface DemoChild {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process has exited, however that happened. */
  readonly exited: Promise<ChildExit>;
  /** The first log line matching `test`; rejects after `timeoutMs` or when the process exits first. */
  waitForLog(test: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
  /** The last `count` lines the process wrote, for a post-mortem. */
  tail(count: number): string;
  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL now, synchronously: the last resort while this process itself exits. */
  kill(): void;
}

/**
 * The environment without MESHCA_* variables: a newcomer's shell may carry
 * settings (a config file, a passphrase, a reload command) meant for a real
 * deployment, and the demo must not pick them up.
 */
function cleanEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MESHCA_')));
}

function parseLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
}

export function startChild(name: string, script: string, args: readonly string[]): DemoChild {
  const child = spawn(process.execPath, [script, ...args], { env: cleanEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const pid = child.pid;
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let partial = '';
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const listener of listeners) listener(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('error', (err) => lines.push(`spawn error: ${err.message}`));
  let running = true;
  const exited = new Promise<ChildExit>((resolveExit) =>
    child.once('exit', (code, signal) => {
      running = false;
      resolveExit({ code, signal });
    }),
  );

  const signal = (sig: NodeJS.Signals) => {
    try {
      if (running) process.kill(pid, sig);
    } catch {
      // already gone
    }
  };

  const waitForLog = (test: (line: LogLine) => boolean, timeoutMs: number) =>
    new Promise<LogLine>((resolveLine, reject) => {
      const check = (text: string) => {
        const parsed = parseLine(text);
        if (parsed && test(parsed)) finish(() => resolveLine(parsed));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${name} did not log what the demo waited for within ${timeoutMs} ms`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      for (const line of lines) check(line);
      void exited.then(({ code, signal: sig }) => {
        if (listeners.has(check)) finish(() => reject(new Error(`${name} exited (code ${code}, signal ${sig}) before it was ready`)));
      });
    });

  return {
    name,
    pid,
    exited,
    waitForLog,
    tail: (count) => [...lines, partial].filter(Boolean).slice(-count).join('\n'),
    stop: async (timeoutMs = 5000) => {
      signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
      if ((await Promise.race([exited, late])) === 'late') {
        signal('SIGKILL');
        await exited;
      }
      clearTimeout(timer);
    },
    kill: () => signal('SIGKILL'),
  };
}
