/**
 * A process that logs why it exits and then calls process.exit (the agent with
 * --once) must have that line last on stdout, even with libuv's thread pool
 * busy (key generation, file writes) at the moment it exits.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseLogLines } from '../support/log-lines.js';

const LOGGER = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/cli/logger.js')).href;

/** Logs five lines, fills the thread pool, logs two more and exits at once. */
const SCRIPT = `
import { pbkdf2 } from 'node:crypto';
const { createLogger, synchronousStdout } = await import(${JSON.stringify(LOGGER)});
const log = createLogger('info', synchronousStdout());
for (let i = 0; i < 5; i++) log.info({ i }, 'line ' + i);
await new Promise((r) => setImmediate(r));
for (let i = 0; i < 4; i++) pbkdf2('busy', 'pool', 20000, 32, 'sha256', () => {});
log.warn({}, 'the step failed');
await new Promise((r) => setImmediate(r));
log.error({}, 'exiting');
process.exit(3);
`;

/** Runs SCRIPT with its stdout captured, or on `stdoutFd` (then nothing is captured). */
function runScript(stdoutFd?: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], { stdio: ['ignore', stdoutFd ?? 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout }));
  });
}

describe('synchronousStdout', () => {
  it('keeps every line, in order, when the process exits with the thread pool busy', async () => {
    for (let run = 0; run < 3; run++) {
      const { code, stdout } = await runScript();
      expect(code).toBe(3);
      expect(parseLogLines(stdout).map((l) => l.msg)).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'the step failed', 'exiting']);
    }
  });

  it('drops what it cannot write (stdout on a full disk) and the process goes on to exit with its own code', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      expect((await runScript(full)).code).toBe(3);
    } finally {
      closeSync(full);
    }
  });
});
