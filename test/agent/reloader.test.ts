/** What the reload command is given: its words, split without a shell, and the agent's environment less its secrets. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { performReload, reloadAction } from '../../src/agent/reloader.js';
import { tempDir } from '../support/temp-dir.js';

const saved = { ...process.env };
afterEach(() => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
  Object.assign(process.env, saved);
});

/** The environment `--reload-cmd` sees when the agent runs with `env` added to its own. */
async function reloadEnvironment(env: Record<string, string>): Promise<Map<string, string>> {
  Object.assign(process.env, env);
  const file = join(tempDir(), 'env');
  await performReload(reloadAction({ reloadCmd: ['/bin/sh', '-c', `env > ${file}`], reloadSignal: 'SIGHUP' }));
  return new Map(readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('the environment of --reload-cmd', () => {
  it.each([
    ['fail/MESHCA_AGENT_JOIN_TOKEN (a secret: the join token) is withheld', 'MESHCA_AGENT_JOIN_TOKEN', 'mcjt_secret', undefined],
    ['pass/another MESHCA_AGENT_* setting is passed', 'MESHCA_AGENT_OUT', '/run/svid', '/run/svid'],
    ['pass/a variable of the agent\'s own environment is passed', 'PROXY_CONFIG', '/etc/nginx/nginx.conf', '/etc/nginx/nginx.conf'],
  ])('%s', async (_name, variable, value, seen) => {
    expect((await reloadEnvironment({ [variable]: value })).get(variable)).toBe(seen);
  });
});
