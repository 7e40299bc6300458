/** Running the built `meshca` command (dist/, made by `npm test`'s tsc step) as a user would. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** The project root, whether this runs from test/ (vitest) or compiled into dist/test/ (the benchmark). */
export const PROJECT_ROOT = resolve(import.meta.dirname, import.meta.dirname.includes('/dist/test/') ? '../../..' : '../..');

export const MESHCA_BIN = resolve(PROJECT_ROOT, 'dist/src/cli/meshca.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Longer than any CLI command a test runs takes; a command still running then is killed, not left behind. */
const CLI_TIMEOUT_MS = 60_000;

/** The variables that choose which CA a command administers: a developer's own must not steer the tests' commands. */
const CA_CHOICE = ['MESHCA_DATA_DIR', 'MESHCA_SERVER', 'MESHCA_CREDENTIAL'];

export function runMeshca(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CA_CHOICE.includes(name)));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MESHCA_BIN, ...args], {
      env: { ...inherited, ...env },
      stdio: 'pipe',
      timeout: CLI_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
