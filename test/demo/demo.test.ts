/**
 * `npm run demo` as a newcomer runs it: the built script (dist/, made by
 * `npm test`'s tsc step) as a child process, from start to finish and
 * interrupted with Ctrl-C. Either way nothing it started may be left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DEMO = resolve(import.meta.dirname, '../../dist/src/demo/demo.js');
const FRONTEND = 'frontend (spiffe://example.org/demo/frontend)';
const BACKEND = 'backend (spiffe://example.org/demo/backend)';

interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the demo; sends SIGINT once `interruptWhen` holds for its output so far. Gives up (SIGINT, then SIGKILL) after `timeoutMs`. */
function runDemo(timeoutMs: number, interruptWhen?: (stdout: string) => boolean): Promise<DemoRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (interruptWhen && !interrupted && interruptWhen(stdout)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const giveUp = setTimeout(() => {
    child.kill('SIGINT'); // lets the demo stop what it started
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, timeoutMs);
  return new Promise((resolveRun, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(giveUp);
      resolveRun({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every process the demo said it started, and its temporary directory: all must be gone. */
function expectNothingLeft(stdout: string): void {
  const pids = [...stdout.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
  expect(pids.length, stdout).toBe(3); // the CA and two agents
  expect(pids.filter(isRunning)).toEqual([]);
  const dir = /\(in (\/\S+meshca-demo-\w+)\)/.exec(stdout)?.[1];
  expect(dir, stdout).toBeDefined();
  expect(existsSync(dir!)).toBe(false);
}

describe('npm run demo', () => {
  it('pass/runs a CA, two agents and two mutual-TLS services through a root rotation without a failed call, and exits 0 in well under a minute', { timeout: 90_000 }, async () => {
    const run = await runDemo(75_000);
    const said = run.stdout;
    expect(run.code, said + run.stderr).toBe(0);
    expect(run.ms).toBeLessThan(60_000);

    // Who talked to whom, both ways, identified by SPIFFE ID, in every phase.
    for (const [from, to] of [[FRONTEND, BACKEND], [BACKEND, FRONTEND]]) {
      expect(said.split(`${from} → ${to}: 200`).length - 1, said).toBe(3);
    }
    // The rotation: a new root is prepared, reaches both agents, is activated, and both services move to it.
    const root = /prepared root ([0-9a-f]{8})…/.exec(said)?.[1];
    expect(root, said).toBeDefined();
    expect(said).toContain('both agents installed the two-root bundle');
    expect(said).toContain(`activated root ${root}…`);
    for (const service of ['frontend', 'backend']) {
      expect(said).toMatch(new RegExp(`${service} switched to SVID [0-9a-f]{8}… from intermediate [0-9a-f]{8}… under the new root ${root}…`));
    }
    expect(said).toContain('both services present SVIDs under the new root');
    // Traffic before, during and after, and not one failure.
    for (const phase of ['before the rotation', 'during the rotation', 'after the rotation']) {
      const [, calls, ok] = new RegExp(`${phase}: (\\d+) calls, all (\\d+) answered 200`).exec(said) ?? [];
      expect(Number(calls), `${phase}\n${said}`).toBeGreaterThan(0);
      expect(ok).toBe(calls);
    }
    expect(said).toMatch(/✓ \d+ mutual-TLS calls, 0 failed, through a root rotation/);
    expect(said).not.toContain('✗');
    // Not a terminal: no colour codes.
    expect(said).not.toContain('\u001b[');
    expectNothingLeft(said);
  });

  it('pass/on Ctrl-C (SIGINT) stops the CA, the agents and the services, removes its directory and exits 130', { timeout: 60_000 }, async () => {
    const run = await runDemo(45_000, (out) => out.includes(`${FRONTEND} → ${BACKEND}: 200`));
    expect(run.code, run.stdout + run.stderr).toBe(130);
    expect(run.stdout).toContain('SIGINT: stopping the CA, the agents and the services');
    expect(run.stdout).not.toContain('mutual-TLS calls, 0 failed');
    expectNothingLeft(run.stdout);
  });
});
