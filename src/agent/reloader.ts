/** Telling the proxy to pick up new files: run --reload-cmd, or signal the PID in --pid-file. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AGENT_SECRET_VARIABLES } from '../config/agent-config.js';
import { splitCommand } from './command-line.js';
import { ProxyPidFile } from './pid-file.js';

const run = promisify(execFile);

export type ReloadAction = { readonly kind: 'command'; readonly argv: readonly string[]; readonly env: NodeJS.ProcessEnv } | { readonly kind: 'signal'; readonly pidFile: ProxyPidFile; readonly signal: NodeJS.Signals } | { readonly kind: 'none' };

/** The command runs with the agent's environment, less the secrets the agent itself reads (the join token). */
export function reloadAction(options: { reloadCmd?: string | undefined; pidFile?: string | undefined; reloadSignal: NodeJS.Signals }, env: NodeJS.ProcessEnv = process.env): ReloadAction {
  if (options.reloadCmd) return { kind: 'command', argv: splitCommand(options.reloadCmd), env: withoutSecrets(env) };
  if (options.pidFile) return { kind: 'signal', pidFile: new ProxyPidFile(options.pidFile), signal: options.reloadSignal };
  return { kind: 'none' };
}

/** Performs the reload once; throws with the reason when it fails. */
export async function performReload(action: ReloadAction): Promise<void> {
  switch (action.kind) {
    case 'none':
      return;
    case 'command': {
      const [program, ...args] = action.argv;
      try {
        await run(program!, args, { timeout: 30_000, env: action.env });
      } catch (err) {
        const e = err as { code?: number | string; stderr?: string };
        throw new Error(`${program} failed (${e.code ?? 'error'}): ${String(e.stderr ?? '').trim().slice(0, 500)}`);
      }
      return;
    }
    case 'signal': {
      process.kill(await action.pidFile.pid(), action.signal);
    }
  }
}

function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !AGENT_SECRET_VARIABLES.includes(name)));
}
