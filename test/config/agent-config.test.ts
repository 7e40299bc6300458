/** meshca-agent settings that are checked against each other or against the platform. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../src/config/agent-config.js';
import { tempDir } from '../support/temp-dir.js';
import { problemsOf } from '../support/config-problems.js';
import { MiniCa } from '../support/mini-ca.js';

let BUNDLE: string;
beforeAll(async () => {
  BUNDLE = (await MiniCa.create()).bundlePem;
});

function load(flags: Record<string, string>, bundlePem = BUNDLE) {
  const dir = tempDir();
  const trustBundle = join(dir, 'bundle.pem');
  writeFileSync(trustBundle, bundlePem);
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

  it.each([
    ['https://ca.example:8443', undefined],
    ['https://ca.example:8443/', undefined],
    ['https://[::1]:8443', undefined],
    ['http://ca.example:8443', 'must be an https:// URL'],
    ['ca.example:8443', '"ca.example:8443" is not a URL: write the CA\'s address as https://ca.example:8443'],
    ['127.0.0.1:8443', '"127.0.0.1:8443" is not a URL: write the CA\'s address as https://127.0.0.1:8443'],
    ['https://ca.example:8443/v1', 'must be the CA\'s address alone'],
    ['https://ca.example:8443/?x=1', 'must be the CA\'s address alone'],
    ['https://ca.example:8443/#here', 'must be the CA\'s address alone'],
    ['https://user:secret@ca.example:8443', 'must be the CA\'s address alone'],
  ])('--server %s: %s', (server, problem) => {
    if (problem === undefined) expect(load({ server }).server.origin).toBe(new URL(server).origin);
    else expect(problemsOf(() => load({ server }))).toEqual([expect.stringContaining(problem)]);
  });

  it('never echoes a password written into --server', () => {
    expect(problemsOf(() => load({ server: 'https://user:s3cret@ca.example:8443' })).join('\n')).not.toContain('s3cret');
  });

  it.each([
    ['an empty --out (it had read as none: "--out is required")', { out: '' }, '--out: must not be empty (expected a directory path)'],
    ['an empty --reload-signal (it had fallen back to SIGHUP)', { reloadSignal: '' }, '--reload-signal: must not be empty (expected a signal name)'],
    ['a --health-listen host that is no address (300.1.1.1)', { healthListen: '300.1.1.1:9090' }, '--health-listen: "300.1.1.1" is not an IPv4 or IPv6 address (expected host:port)'],
    ['a --reload-cmd with an unterminated quote (it had passed, and the agent exited 1 on it, which systemd restarts for ever)', { reloadCmd: "nginx -s 'reload" }, "--reload-cmd: unterminated ' quote in command: nginx -s 'reload (expected a command line)"],
  ])('refuses %s', (_name, flags, problem) => {
    expect(problemsOf(() => load(flags))).toEqual([problem]);
  });

  it('splits --reload-cmd into the program and its arguments, without a shell', () => {
    expect(load({ reloadCmd: `nginx -s reload -c '/etc/nginx/my conf'` }).reloadCmd).toEqual(['nginx', '-s', 'reload', '-c', '/etc/nginx/my conf']);
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

  const CRL = '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n';
  it.each<[string, () => string, string]>([
    ['a CRL beside the root', () => BUNDLE + CRL, 'holds something other than PEM certificates (expected CERTIFICATE blocks, found X509 CRL)'],
    ['no PEM at all', () => 'hello', 'holds no PEM certificate'],
    ['a CERTIFICATE block that is no certificate', () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'holds something other than PEM certificates'],
  ])('refuses a --trust-bundle with %s: the bundle every later one is checked against', (_name, bundlePem, problem) => {
    expect(problemsOf(() => load({}, bundlePem()))).toEqual([expect.stringContaining(problem)]);
  });

  // Read by the rules of the running agent's reads (a regular file, or a link to one, within a bound): a FIFO must not hang the start.
  const mkfifo = (p: string) => execFileSync('mkfifo', [p]);
  it.each<[string, string, (path: string) => void, string]>([
    ['--join-token-file', 'a FIFO', mkfifo, 'is not a regular file'],
    ['--join-token-file', 'a directory', (p) => mkdirSync(p), 'is not a regular file'],
    ['--join-token-file', 'a link to a FIFO', (p) => (mkfifo(`${p}.fifo`), symlinkSync(`${p}.fifo`, p)), 'is not a regular file'],
    ['--join-token-file', 'a file over 4 KiB', (p) => writeFileSync(p, `mcjt_${'x'.repeat(4096)}`), 'is larger than 4096 bytes'],
    ['--trust-bundle', 'a FIFO', mkfifo, 'is not a regular file'],
    ['--trust-bundle', 'a file over 1 MiB', (p) => writeFileSync(p, BUNDLE.repeat(Math.ceil((1024 * 1024) / BUNDLE.length) + 1)), 'is larger than 1048576 bytes'],
  ])('refuses, at once, a %s that is %s', (flag, _what, make, problem) => {
    const path = join(tempDir(), 'file');
    make(path);
    expect(problemsOf(() => load(flag === '--trust-bundle' ? { trustBundle: path } : { joinTokenFile: path }))).toEqual([`${flag}: ${path} ${problem}`]);
  });

  it('reads a --join-token-file that is a link to a regular file, as a Secret volume\'s key is', () => {
    const target = tokenFile('mcjt_fromfile\n');
    const path = join(tempDir(), 'token');
    symlinkSync(target, path);
    expect(load({ joinTokenFile: path }).joinToken).toBe('mcjt_fromfile');
  });

  it('refuses a join token given both ways', () => {
    expect(problemsOf(() => load({ joinTokenFile: tokenFile('mcjt_fromfile\n'), joinToken: 'mcjt_flag' }))).toEqual([
      'give either --join-token or --join-token-file, not both',
    ]);
  });
});
