/**
 * Running the built `meshca-agent` (dist/, made by `npm run build`) as a child
 * process, the way a pod or a systemd unit runs it: once (init-container
 * style) or continuously, always stopped by the PID that was spawned.
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cleanupLater } from './cleanup.js';
import type { CliResult } from './cli.js';
import { parseLogLines } from './log-lines.js';

/** The built agent; MESHCA_TEST_AGENT_BIN runs the tests against another build of it. */
export const AGENT_BIN = process.env.MESHCA_TEST_AGENT_BIN ?? resolve(import.meta.dirname, '../../dist/src/cli/meshca-agent.js');

/** How an agent process ended: its exit code, or the signal that killed it. */
export interface AgentExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface AgentProcess {
  readonly pid: number;
  /** Everything written so far (stdout and stderr; pino logs one JSON object a line). */
  output(): string;
  /** The JSON log lines written so far. */
  logLines(): Array<Record<string, unknown>>;
  /** Resolves when the process exits, however that happens. */
  readonly exited: Promise<AgentExit>;
  running(): boolean;
  /**
   * Sends `signal` (SIGTERM by default) and waits for the exit. If the agent is
   * still running after `timeoutMs` it is killed with SIGKILL and the promise rejects.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<AgentExit>;
  /** Resolves with the first log line matching `test`, or rejects (with the output) after `timeoutMs` or when the agent exits first. */
  waitForLog(test: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
}


/** Runs `meshca-agent ARGS` to completion (use with --once, or for configuration errors). */
export function runAgent(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`meshca-agent ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Starts `meshca-agent ARGS` in the background; it is stopped (SIGKILL if need be) when the test or file ends. */
export function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn meshca-agent');
  let output = '';
  let hasExited = false;
  const exited = new Promise<AgentExit>((resolvePromise) =>
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolvePromise({ code, signal });
    }),
  );
  child.on('error', (err) => (output += `spawn error: ${err.message}\n`));
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<AgentExit> => {
    if (!hasExited) {
      process.kill(pid, signal);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        process.kill(pid, 'SIGKILL');
        await exited;
        throw new Error(`meshca-agent (pid ${pid}) did not exit within ${timeoutMs} ms of ${signal}:\n${output}`);
      }
    }
    return exited;
  };

  const waitForLog = (test: (line: Record<string, unknown>) => boolean, timeoutMs: number) =>
    new Promise<Record<string, unknown>>((resolvePromise, reject) => {
      const check = () => {
        const found = parseLogLines(output).find(test);
        if (found) {
          finish();
          resolvePromise(found);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`meshca-agent (pid ${pid}) did not log the awaited line within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then(({ code, signal }) => {
        if (!waiters.has(check)) return;
        finish();
        reject(new Error(`meshca-agent exited (code ${code}, signal ${signal}) before logging the awaited line:\n${output}`));
      });
      check();
    });

  cleanupLater(async () => {
    if (!hasExited) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
  });
  return { pid, output: () => output, logLines: () => parseLogLines(output), exited, running: () => !hasExited, stop, waitForLog };
}

/** The flags every agent needs: where the CA is, what to trust at first contact, the token and the output directory. */
export function agentArgs(o: { server: string; trustBundle: string; out: string; joinToken?: string }, ...more: string[]): string[] {
  return [
    '--server', o.server,
    '--trust-bundle', o.trustBundle,
    '--out', o.out,
    ...(o.joinToken ? ['--join-token', o.joinToken] : []),
    ...more,
  ];
}

/** Where OUT/..data points now, or undefined before the first publication. */
export function installedVersion(out: string): string | undefined {
  try {
    return readlinkSync(join(out, '..data'));
  } catch {
    return undefined;
  }
}

/** GET http://127.0.0.1:PORT/PATH on the agent's --health-listen; status 0 when nothing answers. */
export function getHealth(port: number, path: '/healthz' | '/readyz' | '/metrics', timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolvePromise({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolvePromise({ status: 0, body: err.message }));
  });
}
