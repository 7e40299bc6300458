/**
 * node:fs/promises that dies at a chosen step, to test what a crash leaves.
 * A test file installs it with
 *
 *   vi.mock('node:fs/promises', async (real) => (await import('../support/crashing-fs.js')).crashingFs(await real()));
 *
 * and then `crashAfter(n)` lets n steps (calls that change the disk) through
 * and makes every later call never settle, as if the process had been killed
 * there: nothing more reaches the disk. `restart()` is the next process, which
 * works on whatever was left. This module imports no node:fs/promises itself.
 */

/** The calls that change what is on disk; a crash can fall between any two of them. */
const STEPS = new Set(['mkdir', 'open', 'rename', 'symlink', 'unlink', 'rm', 'rmdir', 'writeFile', 'copyFile', 'chmod', 'link']);

interface CrashState {
  stepsLeft: number;
  steps: string[];
  crashed: boolean;
  onCrash: () => void;
}

const state: CrashState = { stepsLeft: Infinity, steps: [], crashed: false, onCrash: () => undefined };

const never = new Promise<never>(() => undefined);

export function crashingFs<T extends object>(real: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(real)) {
    wrapped[name] = typeof value === 'function' ? wrap(name, value as (...args: unknown[]) => unknown) : value;
  }
  return { ...wrapped, default: wrapped } as T;
}

function wrap(name: string, fn: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  return (...args) => {
    if (!state.crashed && STEPS.has(name)) {
      if (state.stepsLeft === 0) {
        state.crashed = true;
        state.onCrash();
      } else {
        state.stepsLeft--;
        state.steps.push(`${name} ${pathsOf(args)}`);
      }
    }
    return state.crashed ? never : fn(...args);
  };
}

/** The paths a call names (rename's and symlink's second is the one it creates), shortened to their last two parts. */
function pathsOf(args: readonly unknown[]): string {
  const paths = args.filter((a): a is string => typeof a === 'string');
  return paths.map((p) => p.split('/').slice(-2).join('/')).join(' -> ');
}

/**
 * Arms a crash after `steps` more steps; the promise resolves when it happens
 * (never, if the work takes fewer steps). Race it with the work.
 */
export function crashAfter(steps: number): Promise<void> {
  state.stepsLeft = steps;
  state.steps = [];
  state.crashed = false;
  return new Promise((resolve) => (state.onCrash = resolve));
}

/** The steps taken since crashAfter, each as `call dir/name`, to name a crash point. */
export function stepsTaken(): readonly string[] {
  return state.steps;
}

/** A new process: nothing crashes any more, and what the dead one was doing stays undone. */
export function restart(): void {
  state.stepsLeft = Infinity;
  state.crashed = false;
  state.onCrash = () => undefined;
}

/**
 * Runs `work` with a crash after each possible step in turn, and `check` on
 * what each crash left (after restart()); `setUp` makes a fresh starting point
 * before each run. Returns the problems `check` reported, each prefixed with
 * the crash point, so that one expect shows them all.
 */
export async function atEveryCrashPoint<S>(
  setUp: () => Promise<S>,
  work: (s: S) => Promise<unknown>,
  check: (s: S) => Promise<string[]>,
): Promise<string[]> {
  const problems: string[] = [];
  for (let steps = 0; ; steps++) {
    restart();
    const s = await setUp();
    const crashed = crashAfter(steps);
    const finished = await Promise.race([work(s).then(() => true), crashed.then(() => false)]);
    const point = finished ? 'no crash' : `crash after ${steps} steps (${stepsTaken().at(-1) ?? 'none'})`;
    restart();
    problems.push(...(await check(s)).map((p) => `${point}: ${p}`));
    if (finished) return problems;
  }
}
