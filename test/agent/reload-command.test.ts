/**
 * --reload-cmd runs in a process group of its own: a command that hangs or
 * ignores SIGTERM cannot stall the agent past the timeout, and nothing it
 * started outlives it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { performReload, reloadAction, ReloadTimeoutError, stopReloadCommands } from '../../src/agent/reloader.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';

/**
 * Whether `pid` is a live process. A zombie counts as gone: it holds nothing
 * but its PID, and reaping an orphan is the init process's job (in some
 * containers PID 1 never does it).
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A reload command: a shell script that writes its own PID and its background child's to DIR/shell.pid and DIR/child.pid. */
function reloadScript(body: string): { reloadCmd: string[]; pids: () => { shell: number; child: number } } {
  const dir = tempDir();
  const script = join(dir, 'reload.sh');
  writeFileSync(script, `echo $$ > ${dir}/shell.pid\n${body.replaceAll('CHILD_PID_FILE', `${dir}/child.pid`)}\n`);
  const read = (name: string) => Number(readFileSync(join(dir, name), 'utf8').trim());
  return { reloadCmd: ['/bin/sh', script], pids: () => ({ shell: read('shell.pid'), child: read('child.pid') }) };
}

describe('a reload command that cannot be started', () => {
  it.each([
    ['no such program', () => '/nonexistent/nginx', 'no such file (ENOENT)'],
    ['a file that is not executable', () => writeNonExecutable(), 'permission denied (EACCES)'],
  ])('fails naming --reload-cmd and, in words, why (%s)', async (_name, program, why) => {
    const path = program();
    await expect(performReload(reloadAction({ reloadCmd: [path, '-s', 'reload'], reloadSignal: 'SIGHUP' }))).rejects.toThrow(
      `--reload-cmd ${path} could not be started: ${why}`,
    );
  });
});

function writeNonExecutable(): string {
  const path = join(tempDir(), 'reload.sh');
  writeFileSync(path, 'exit 0\n', { mode: 0o644 });
  return path;
}

describe('a reload command that does not finish', () => {
  it('is failed at the timeout, and it and its child are killed, SIGTERM ignored or not', { timeout: 15_000 }, async () => {
    const { reloadCmd, pids } = reloadScript(`trap '' TERM\nsleep 400 &\necho $! > CHILD_PID_FILE\nwait`);
    const started = Date.now();
    const reload = performReload(reloadAction({ reloadCmd, reloadSignal: 'SIGHUP' }), { timeoutMs: 1_000 });

    await expect(reload).rejects.toThrow(ReloadTimeoutError);
    await expect(reload).rejects.toThrow(/^\/bin\/sh timed out after 1 s and was killed/);
    expect(Date.now() - started).toBeLessThan(5_000);
    const { shell, child } = pids();
    await waitFor('the reload command and its child to be gone', () => !alive(shell) && !alive(child), 2_000, 20);
  });
});

describe('a reload command that leaves a background child holding its output', () => {
  it.each([
    ['succeeds', 'exit 0', undefined],
    ['fails, with its exit status and stderr', 'echo "nginx: [emerg] bad" >&2\nexit 4', /^\/bin\/sh failed \(4\): nginx: \[emerg\] bad$/],
  ])('settles as soon as it exits, and the child is killed, when it %s', { timeout: 15_000 }, async (_how, ending, failure) => {
    const { reloadCmd, pids } = reloadScript(`sleep 300 &\necho $! > CHILD_PID_FILE\n${ending}`);
    const started = Date.now();
    const reload = performReload(reloadAction({ reloadCmd, reloadSignal: 'SIGHUP' }), { timeoutMs: 10_000 });

    if (failure) await expect(reload).rejects.toThrow(failure);
    else await expect(reload).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor('the background child to be gone', () => !alive(pids().child), 2_000, 20);
  });
});

describe('a reload command still running when the agent stops', () => {
  it('is killed with its group (stopReloadCommands, which the agent runs as it exits), not left behind', { timeout: 15_000 }, async () => {
    const { reloadCmd, pids } = reloadScript(`sleep 300 &\necho $! > CHILD_PID_FILE\nwait`);
    const reload = performReload(reloadAction({ reloadCmd, reloadSignal: 'SIGHUP' }), { timeoutMs: 60_000 });
    const outcome = reload.then(() => 'resolved', (err: Error) => err.message);
    await waitFor('the reload command to have started its child', () => {
      try {
        return pids().child > 0;
      } catch {
        return false;
      }
    }, 5_000, 20);

    stopReloadCommands();
    expect(await outcome).toMatch(/^\/bin\/sh failed \(SIGKILL\)/);
    const { shell, child } = pids();
    await waitFor('the reload command and its child to be gone', () => !alive(shell) && !alive(child), 2_000, 20);
  });
});
