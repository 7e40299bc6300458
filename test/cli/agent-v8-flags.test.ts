/**
 * The agent runs its JavaScript in V8's interpreter only (agent-v8-flags.ts):
 * a sidecar that idles is smaller without the optimizing and baseline
 * compilers. Checked on the built entry point as a user starts it, with a
 * probe loaded ahead of it (--import) that, as the process exits, runs a hot
 * function and asks V8 how it was compiled.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

/** Bits of %GetOptimizationStatus (V8's OptimizationStatus, src/runtime/runtime.h). */
const TURBOFANNED = 1 << 6;
const INTERPRETED = 1 << 7;
const BASELINE = 1 << 15;

/** A function called 20,000 times, compiled after everything the process ran; the probe prints V8's status bits for it. */
const PROBE = `
process.on('exit', () => {
  const hot = new Function('x', 'let s = 0; for (let i = 0; i < x; i++) s += i; return s;');
  for (let i = 0; i < 20000; i++) hot(100);
  process.stdout.write('status=' + new Function('f', 'return %GetOptimizationStatus(f);')(hot) + '\\n');
});
`;

function hotFunctionStatus(args: string[]): number {
  const probe = join(tempDir('v8'), 'probe.mjs');
  writeFileSync(probe, PROBE);
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', probe, ...args], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const status = /status=(\d+)/.exec(run.stdout);
  expect(status, run.stdout).not.toBeNull();
  return Number(status![1]);
}

describe("the agent's V8 compilers", () => {
  it('leave a hot function interpreted in the agent, neither optimized nor baseline-compiled', () => {
    const status = hotFunctionStatus([resolve(PROJECT_ROOT, 'dist/src/cli/meshca-agent.js'), '--version']);
    expect({ interpreted: (status & INTERPRETED) !== 0, turbofanned: (status & TURBOFANNED) !== 0, baseline: (status & BASELINE) !== 0 }).toEqual({
      interpreted: true,
      turbofanned: false,
      baseline: false,
    });
  });

  it('are left as they are in a plain Node process, where the same function is optimized (the probe can tell)', () => {
    expect(hotFunctionStatus(['-e', '0']) & TURBOFANNED).not.toBe(0);
  });
});
