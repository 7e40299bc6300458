/** meshca-agent settings that are checked against each other or against the platform. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../src/config/agent-config.js';
import { tempDir } from '../support/temp-dir.js';
import { problemsOf } from '../support/config-problems.js';

const BUNDLE = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';

function load(flags: Record<string, string>) {
  const dir = tempDir();
  const trustBundle = join(dir, 'bundle.pem');
  writeFileSync(trustBundle, BUNDLE);
  return loadAgentConfig({ flags: { server: 'https://ca.example:8443', trustBundle, out: join(dir, 'out'), ...flags }, env: {} });
}

function tokenFile(content: string): string {
  const path = join(tempDir(), 'token');
  writeFileSync(path, content);
  return path;
}

describe('loadAgentConfig', () => {
  it.each([
    ['HUP', 'SIGHUP'],
    ['sigusr1', 'SIGUSR1'],
  ])('accepts the signal %s as %s', (raw, signal) => {
    expect(load({ reloadSignal: raw }).reloadSignal).toBe(signal);
  });

  it('refuses a misspelt signal when it starts, not at the first reload', () => {
    expect(problemsOf(() => load({ reloadSignal: 'SIGHUPP' }))).toEqual([expect.stringContaining('"SIGHUPP" is not a signal name')]);
  });

  it.each([
    ['a token file alone', { joinTokenFile: tokenFile('mcjt_fromfile\n') }, 'mcjt_fromfile'],
    ['an empty token file (systemd\'s fallback once the token is spent) and --join-token', { joinTokenFile: tokenFile('\n'), joinToken: 'mcjt_flag' }, 'mcjt_flag'],
    ['an empty token file alone', { joinTokenFile: tokenFile('\n') }, undefined],
  ])('takes the join token from %s', (_name, flags, token) => {
    expect(load(flags).joinToken || undefined).toBe(token);
  });

  it('refuses a join token given both ways', () => {
    expect(problemsOf(() => load({ joinTokenFile: tokenFile('mcjt_fromfile\n'), joinToken: 'mcjt_flag' }))).toEqual([
      'give either --join-token or --join-token-file, not both',
    ]);
  });
});
