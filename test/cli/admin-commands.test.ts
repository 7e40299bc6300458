/**
 * The admin commands as an operator meets them, against a real `meshca
 * server`: a refusal names what the operator typed (a flag such as --agent, or
 * the command's argument), never the API's schema path ("body/agent",
 * "querystring/agent", "params/name") or its JSON field ("activeAt"); every
 * flag the help lists works; and `agent list` does not show a time of
 * attestation for an agent that never attested.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { operatorMessage } from '../../src/cli/admin-client.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { agentJson } from '../../src/server/json-views.js';
import { engines } from '../support/datastores.js';
import { FakeClock } from '../support/fake-clock.js';
import { issued } from '../support/store-records.js';
import { runMeshca, type CliResult } from '../support/cli.js';
import { serverPerFile } from '../support/server-per-file.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;
const TD = 'spiffe://example.org';

/** What the API names in its validation messages, which mean nothing to someone at a shell. */
const SCHEMA_WORDS = /\b(body|querystring|params)\/|\banyOf\b|\b(activeAt|issuedAfter|spiffeId)\b/;

/** An --out that is a regular file. */
function outFile(): string {
  const path = join(tempDir(), 'out');
  writeFileSync(path, 'x');
  return path;
}

/** An --out that is a symbolic link to a directory. */
function outLink(): string {
  const work = tempDir();
  mkdirSync(join(work, 'real'));
  symlinkSync(join(work, 'real'), join(work, 'out'));
  return join(work, 'out');
}

describe('meshca admin commands', () => {
  const ca = serverPerFile();
  let mintedSerial = '';
  const meshca = (...args: string[]): Promise<CliResult> => runMeshca([...args, '--data-dir', ca.dataDir]);

  it.each([
    { name: 'token create --agent with a space', args: ['token', 'create', '--agent', 'Bad Name'], says: 'meshca: --agent may hold only letters, digits, ".", "_" and "-"' },
    {
      name: 'entry create --agent with a space',
      args: ['entry', 'create', '--agent', 'Bad Name', '--spiffe-id', `${TD}/ns/x`],
      says: 'meshca: --agent may hold only letters, digits, ".", "_" and "-"',
    },
    { name: 'entry list --agent with a space (a query parameter)', args: ['entry', 'list', '--agent', 'a b'], says: 'meshca: --agent may hold only letters, digits, ".", "_" and "-"' },
    { name: 'cert list --serial that is not hex', args: ['cert', 'list', '--serial', 'zz'], says: 'meshca: --serial must be a serial number: 1 to 40 hex digits' },
    { name: 'cert list --active-at that is not a time', args: ['cert', 'list', '--active-at', 'yesterday'], says: 'meshca: --active-at: "yesterday" is not a time' },
    { name: 'audit export --since that is not a time', args: ['audit', 'export', '--since', 'soon'], says: 'meshca: --since: "soon" is not a time' },
    {
      name: 'cert revoke --reason that is no reason',
      args: ['cert', 'revoke', '--serial', '01', '--reason', 'bored'],
      says: 'meshca: --reason must be one of: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation (invalid_request',
    },
    {
      name: 'admin credential --name with a space',
      args: ['admin', 'credential', '--role', 'auditor', '--name', 'a b', '--out', `${tempDir()}/cred`],
      says: 'meshca: --name may hold only letters, digits, ".", "_" and "-"',
    },
    { name: 'agent ban NAME with a space (an argument)', args: ['agent', 'ban', 'a b'], says: 'meshca: agent name "a b" may hold only letters, digits, ".", "_" and "-"' },
    { name: 'authority intermediate taint ID that is no id', args: ['authority', 'intermediate', 'taint', 'nope'], says: 'meshca: intermediate id "nope" must be an authority id: its subject key identifier in lowercase hex, as authority list shows it' },
  ])('fail/$name: the message names what the operator typed', async ({ args, says }) => {
    const res = await meshca(...args);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 1, stdout: '' });
    expect(res.stderr).toContain(says);
    expect(res.stderr).toContain('(invalid_request, HTTP 400)');
    expect(res.stderr).not.toMatch(SCHEMA_WORDS);
  });

  it.each([
    { name: 'token create --ttl 10x', args: ['token', 'create', '--agent', 'n1', '--ttl', '10x'] },
    { name: 'entry create --ttl 5 (seconds without a unit)', args: ['entry', 'create', '--agent', 'n1', '--spiffe-id', `${TD}/ns/x`, '--ttl', '5'] },
    { name: 'mint --ttl soon', args: ['mint', '--spiffe-id', `${TD}/ns/x`, '--out', `${tempDir()}/m`, '--ttl', 'soon'] },
    { name: 'admin credential --ttl 1y', args: ['admin', 'credential', '--role', 'auditor', '--name', 'bob', '--out', `${tempDir()}/c`, '--ttl', '1y'] },
  ])('fail/$name: a --ttl that is no duration exits 78 naming --ttl and how to write one', async ({ args }) => {
    const res = await meshca(...args);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
    expect(res.stderr).toMatch(/--ttl: "[^"]+" is not a duration \(a whole number followed by s, m, h or d/);
    expect(res.stderr).not.toMatch(SCHEMA_WORDS);
  });

  it.each([
    { name: 'entry create --ttl 100d', args: ['entry', 'create', '--agent', 'n1', '--spiffe-id', `${TD}/ns/long`, '--ttl', '100d'], asked: '100d' },
    { name: 'mint --ttl 300m', args: ['mint', '--spiffe-id', `${TD}/ns/long`, '--out', `${tempDir()}/m`, '--ttl', '300m'], asked: '300m' },
    { name: 'admin credential --ttl 5h', args: ['admin', 'credential', '--role', 'auditor', '--name', 'long', '--out', `${tempDir()}/c`, '--ttl', '5h'], asked: '5h' },
    { name: 'admin credential --ttl 18000s', args: ['admin', 'credential', '--role', 'auditor', '--name', 'long', '--out', `${tempDir()}/c`, '--ttl', '18000s'], asked: '18000s' },
    { name: 'entry create --ttl 241m', args: ['entry', 'create', '--agent', 'n1', '--spiffe-id', `${TD}/ns/long`, '--ttl', '241m'], asked: '241m' },
  ])('fail/$name: a lifetime above the maximum names --ttl as typed, the maximum and the CA setting that bounds it', async ({ args, asked }) => {
    expect(await meshca(...args)).toEqual({
      code: 1,
      stdout: '',
      stderr: `meshca: --ttl: ${asked} is above this CA's maximum certificate lifetime of 4h (its --svid-max-ttl, or MESHCA_SVID_MAX_TTL) (ttl_exceeds_max, HTTP 400)\n`,
    });
  });

  it.each(['900h', '31d'])('fail/token create --ttl %s: a token lifetime above the longest names --ttl as typed and that longest', async (asked) => {
    expect(await meshca('token', 'create', '--agent', 'n1', '--ttl', asked)).toEqual({
      code: 1,
      stdout: '',
      stderr: `meshca: --ttl: ${asked} is longer than the 30d a join token may live (invalid_ttl, HTTP 400)\n`,
    });
  });

  it.each(['local', 'LOCAL', 'Local'])('fail/admin credential --name %s quotes the name as typed, naming --name', async (name) => {
    expect(await meshca('admin', 'credential', '--role', 'operator', '--name', name, '--out', `${tempDir()}/c`)).toEqual({
      code: 1,
      stdout: '',
      stderr: `meshca: --name: "${name}" is reserved, in any letter case: the audit log names the CA host's own socket "operator:local" (invalid_name, HTTP 400)\n`,
    });
  });

  // Checked before the CA is asked: an --out the files cannot go to would leave an issued, recorded credential behind.
  it.each([
    { name: 'admin credential --out of a regular file', command: (out: string) => ['admin', 'credential', '--role', 'operator', '--name', 'out-file', '--out', out], id: `${TD}/meshca/admin/operator/out-file`, out: outFile, says: 'is not a directory' },
    { name: 'admin credential --out of a link to a directory', command: (out: string) => ['admin', 'credential', '--role', 'operator', '--name', 'out-link', '--out', out], id: `${TD}/meshca/admin/operator/out-link`, out: outLink, says: 'is a symbolic link' },
    { name: 'mint --out of a regular file', command: (out: string) => ['mint', '--spiffe-id', `${TD}/ns/out-file`, '--out', out], id: `${TD}/ns/out-file`, out: outFile, says: 'is not a directory' },
    { name: 'mint --out of a link to a directory', command: (out: string) => ['mint', '--spiffe-id', `${TD}/ns/out-link`, '--out', out], id: `${TD}/ns/out-link`, out: outLink, says: 'is a symbolic link' },
  ])('fail/$name exits 78 naming --out, and the CA issues nothing', async ({ command, id, out, says }) => {
    const path = out();
    const res = await meshca(...command(path));
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
    expect(res.stderr).toContain(`--out ${path} ${says}`);
    expect(await meshca('cert', 'list', '--spiffe-id', id, '--json')).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
  });

  it('fail/cert revoke without a selector, or with two, names the three flags', async () => {
    for (const args of [[], ['--serial', '01', '--agent', 'n1']]) {
      const res = await meshca('cert', 'revoke', ...args);
      expect(res.code).toBe(EX_CONFIG);
      expect(res.stderr).toContain('give exactly one of --serial, --spiffe-id or --agent');
    }
  });

  it.each([
    {
      name: 'fail/a serial the CA never issued exits 1 with the 404, not "revoked 0"',
      serial: () => '4e11e6e05b181ed5aa38faf837de233f',
      expected: { code: 1, stdout: '', stderr: 'meshca: certificate with serial 4e11e6e05b181ed5aa38faf837de233f not found (not_found, HTTP 404)\n' },
    },
    { name: 'pass/a serial the CA issued exits 0', serial: () => mintedSerial, expected: { code: 0, stdout: 'revoked 1 certificate\n', stderr: '' } },
    { name: 'pass/the same serial again exits 0, revoking none', serial: () => mintedSerial, expected: { code: 0, stdout: 'revoked 0 certificates\n', stderr: '' } },
    {
      name: 'pass/the same serial as openssl -text prints it (bytes between colons, capitals) is that serial',
      serial: () => mintedSerial.toUpperCase().match(/../g)!.join(':'),
      expected: { code: 0, stdout: 'revoked 0 certificates\n', stderr: '' },
    },
  ])('$name: cert revoke --serial', async ({ serial, expected }) => {
    if (!mintedSerial) {
      const mint = await meshca('mint', '--spiffe-id', `${TD}/ns/revoked`, '--out', `${tempDir()}/m`, '--json');
      expect(mint.code, mint.stderr).toBe(0);
      mintedSerial = (JSON.parse(mint.stdout) as { serial: string }).serial;
    }
    expect(await meshca('cert', 'revoke', '--serial', serial())).toEqual(expected);
  });

  it('pass/entry update --dns replaces the DNS names (repeatable), --clear-dns removes them, and --ttl default clears the lifetime', async () => {
    const created = await meshca('entry', 'create', '--agent', 'web-node', '--spiffe-id', `${TD}/ns/web`, '--dns', 'old.example.org', '--ttl', '30m');
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    const updated = await meshca('entry', 'update', id, '--dns', 'a.example.org', '--dns', 'b.example.org', '--ttl', 'default', '--json');
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ id, dns: ['a.example.org', 'b.example.org'], ttl: null, revision: 2 });
    const cleared = await meshca('entry', 'update', id, '--clear-dns', '--json');
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ id, dns: [], revision: 3 });
    const both = await meshca('entry', 'update', id, '--clear-dns', '--dns', 'c.example.org');
    expect(both.code).toBe(EX_CONFIG);
    expect(both.stderr).toContain('give --dns or --clear-dns, not both');
  });

  it('pass/token list shows tokens by the id token create --json gives, never the token; token revoke voids one by id, or by the leaked token itself', async () => {
    const create = async () => JSON.parse((await meshca('token', 'create', '--agent', 'cli-node', '--json')).stdout) as { token: string; id: string; agent: string };
    const [first, second] = [await create(), await create()];
    const table = await meshca('token', 'list', '--agent', 'cli-node');
    expect(table.code, table.stderr).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+AGENT\s+CREATED\s+EXPIRES\s+CREATED BY\s+CREDENTIAL$/);
    expect(rows.map((r) => r.split(/\s+/).slice(0, 2)).sort()).toEqual([[first.id, 'cli-node'], [second.id, 'cli-node']].sort());
    expect(table.stdout).not.toContain(first.token);

    expect(await meshca('token', 'revoke', first.id)).toEqual({ code: 0, stdout: `revoked join token ${first.id} of agent cli-node\n`, stderr: '' });
    // As `$(cat token.txt)` gives it from a file with CRLF line ends.
    expect(await meshca('token', 'revoke', `${second.token}\r`)).toEqual({ code: 0, stdout: `revoked join token ${second.id} of agent cli-node\n`, stderr: '' });
    expect(await meshca('token', 'list', '--agent', 'cli-node', '--json')).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    const again = await meshca('token', 'revoke', first.id.toUpperCase());
    expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 1, stdout: '' });
    expect(again.stderr).toMatch(new RegExp(`^meshca: join token ${first.id} of agent cli-node was already revoked at \\S+Z \\(precondition_failed, HTTP 409\\)\\n$`));
  });

  it('pass/authority intermediate taint takes an id as openssl prints a subject key identifier (capitals, colons): the CA is asked for it, not refused its form', async () => {
    const res = await meshca('authority', 'intermediate', 'taint', '0A:1B:2C');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('meshca: intermediate 0a1b2c not found (not_found, HTTP 404)');
  });

  it('pass/agent list and entry list --limit N: the first N of the whole listing, in its order, across the CA\'s pages', async () => {
    for (const name of ['limit-a', 'limit-b', 'limit-c']) {
      expect((await meshca('agent', 'ban', name)).code).toBe(0);
      expect((await meshca('entry', 'create', '--agent', 'limit-node', '--spiffe-id', `${TD}/limit/${name}`)).code).toBe(0);
    }
    for (const [list, n] of [[['agent', 'list'], 2], [['entry', 'list'], 2], [['entry', 'list', '--agent', 'limit-node'], 1]] as const) {
      const whole = await meshca(...list, '--json');
      expect(whole.code, whole.stderr).toBe(0);
      const limited = await meshca(...list, '--json', '--limit', String(n));
      expect(limited.code, limited.stderr).toBe(0);
      expect(JSON.parse(limited.stdout)).toEqual((JSON.parse(whole.stdout) as unknown[]).slice(0, n));
    }
  });

  it('pass/agent ban of a name that never attested: agent list shows no attestation time ("-", null in --json)', async () => {
    const ban = await meshca('agent', 'ban', 'never-attested');
    expect(ban).toEqual({ code: 0, stdout: 'agent never-attested is now banned\n', stderr: '' });
    const json = await meshca('agent', 'list', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as Array<Record<string, unknown>>).find((a) => a.name === 'never-attested')).toEqual({
      name: 'never-attested',
      spiffeId: `${TD}/meshca/agent/never-attested`,
      status: 'banned',
      attestedAt: null,
      lastSeen: null,
      svidSerial: null,
      svidExpiresAt: null,
    });
    const table = await meshca('agent', 'list');
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME\s+SPIFFE ID\s+STATUS\s+ATTESTED\s+LAST SEEN\s+SVID EXPIRES$/);
    expect(rows.find((r) => r.startsWith('never-attested '))?.split(/\s+/)).toEqual([
      'never-attested', `${TD}/meshca/agent/never-attested`, 'banned', '-', '-', '-',
    ]);
  });

  // Both leave the agent evicted: the status alone, after an unban, read as if the unban had not taken.
  it.each([
    ['unban', 'agent banned-then-unbanned is now evicted: unbanned, it attests again with a new join token (meshca token create --agent banned-then-unbanned)\n'],
    ['evict', 'agent banned-then-unbanned is now evicted: it attests again only with a new join token (meshca token create --agent banned-then-unbanned)\n'],
  ])('pass/agent %s says what the agent needs next', async (action, says) => {
    if (action === 'unban') expect((await meshca('agent', 'ban', 'banned-then-unbanned')).code).toBe(0);
    expect(await meshca('agent', action, 'banned-then-unbanned')).toEqual({ code: 0, stdout: says, stderr: '' });
  });
});

describe('meshca command line', () => {
  it.each([
    { name: 'a required flag left out', args: ['token', 'create'], says: "error: required option '--agent <name>' not specified" },
    { name: 'an unknown flag', args: ['cert', 'list', '--revoked-after', '2026-01-01'], says: "error: unknown option '--revoked-after'" },
    { name: 'a flag without its value', args: ['entry', 'list', '--agent'], says: "error: option '--agent <name>' argument missing" },
    { name: 'a missing argument', args: ['agent', 'ban'], says: "error: missing required argument 'name'" },
    { name: 'an unknown command', args: ['tokens', 'create'], says: "error: unknown command 'tokens'" },
    // Not the whole usage with the typo unsaid.
    { name: 'help for an unknown command', args: ['help', 'tokens'], says: "error: unknown command 'tokens'" },
    { name: 'help for an unknown subcommand', args: ['entry', 'help', 'creat'], says: "error: unknown command 'creat'" },
    // Commander answers --help before it looks at the name: the typo got the parent's usage and exit 0.
    { name: '--help after an unknown command', args: ['tokens', '--help'], says: "error: unknown command 'tokens'\n(Did you mean token?)" },
    { name: '-h after an unknown subcommand', args: ['entry', 'creat', '-h'], says: "error: unknown command 'creat'\n(Did you mean create?)" },
    // Commander would keep the last value without a word: a token for b, or the CA in /b.
    { name: 'a one-value flag given twice', args: ['token', 'create', '--agent', 'a', '--agent=b'], says: '--agent given twice ("a", then "b"): give it once' },
    { name: 'the CA named twice', args: ['entry', 'list', '--data-dir', '/a', '--data-dir', '/b'], says: '--data-dir given twice ("/a", then "/b"): give it once' },
  ])('fail/$name exits 78, as the README\'s exit codes have it for a flag the command cannot accept', async ({ args, says }) => {
    const res = await runMeshca(args, { MESHCA_DATA_DIR: tempDir() });
    expect(res.code).toBe(EX_CONFIG);
    expect(res.stderr).toContain(says);
  });

  it('pass/a flag given twice with the same value, a repeatable one and a switch repeated are taken: the command goes on to ask the CA (none runs: 69)', async () => {
    const args = ['entry', 'create', '--agent', 'a', '--agent', 'a', '--spiffe-id', 'spiffe://example.org/x', '--dns', 'a.example', '--dns', 'b.example', '--json', '--json'];
    const res = await runMeshca(args, { MESHCA_DATA_DIR: tempDir() });
    expect(res.code, res.stderr).toBe(69);
    expect(res.stderr).toContain('no CA socket at');
  });

  // Checked before the CA is asked (none runs here): what the command itself cannot take exits 78 naming the flag.
  it.each([
    {
      name: 'admin credential --role that is no role',
      args: ['admin', 'credential', '--role', 'x', '--name', 'bob', '--out', `${tempDir()}/cred`],
      says: '--role: "x" is not one of operator, auditor',
    },
    { name: 'bundle --format that is no format', args: ['bundle', '--format', 'xml'], says: '--format: "xml" is not one of pem, spiffe' },
    { name: 'entry update with nothing to update', args: ['entry', 'update', 'e1'], says: 'nothing to update: give --agent, --spiffe-id, --ttl, --dns or --clear-dns' },
    { name: 'token revoke of neither an id nor a token', args: ['token', 'revoke', 'ABC'], says: '"ABC" is neither a token id (16 hex digits, as token list shows) nor a join token' },
    // Never echoed: a mangled token is still most of a secret.
    {
      name: 'token revoke of a token cut short',
      args: ['token', 'revoke', 'mcjt_4xfaJIP8YoHUp1xSECRET'],
      says: 'that looks like a join token, but is 26 characters where a token has 48; give the whole token, or its id from token list',
    },
    { name: 'token list --limit 0', args: ['token', 'list', '--limit', '0'], says: '--limit: "0" is not a positive integer' },
    { name: 'agent list --limit 0', args: ['agent', 'list', '--limit', '0'], says: '--limit: "0" is not a positive integer' },
    { name: 'entry list --limit 1.5', args: ['entry', 'list', '--limit', '1.5'], says: '--limit: "1.5" is not a positive integer' },
    // Files the command reads itself, as mint --csr and entry apply do.
    { name: 'audit verify --trust-bundle that cannot be read', args: ['audit', 'verify', '--trust-bundle', '/nonexistent/bundle.pem'], says: '--trust-bundle /nonexistent/bundle.pem: cannot read it: no such file (ENOENT)' },
    { name: 'audit verify --trust-bundle with no certificate', args: ['audit', 'verify', '--trust-bundle', '/dev/null'], says: '--trust-bundle /dev/null holds no certificate' },
    { name: 'audit verify --db that does not exist', args: ['audit', 'verify', '--db', '/nonexistent/meshca.db'], says: '--db /nonexistent/meshca.db: no such file' },
  ])('fail/$name exits 78 naming the flags', async ({ args, says }) => {
    const res = await runMeshca(args, { MESHCA_DATA_DIR: tempDir() });
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
    expect(res.stderr).toContain(says);
    expect(res.stderr).not.toContain('mcjt_');
  });

  it.each([
    { command: 'agent', says: 'agents: every name that attested, and names banned or evicted before they ever did' },
    {
      command: 'agent list',
      says: 'list agents, in order of name: those that attested and names banned or evicted before attesting, with status, attestation time ("-" for none), last seen and SVID expiry',
    },
    { command: 'entry list', says: 'list registration entries (every agent\'s, or --agent\'s), in order of agent, SPIFFE ID and id: id, agent, SPIFFE ID, TTL and DNS names' },
  ])('pass/meshca $command --help says what the listing holds', async ({ command, says }) => {
    const res = await runMeshca([...command.split(' '), '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout.replace(/\s+/g, ' ')).toContain(says);
  });

  it('pass/meshca server --help says each setting\'s default and variable as every other command\'s help does', async () => {
    const res = await runMeshca(['server', '--help']);
    expect(res.code).toBe(0);
    const help = res.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--svid-ttl <value> lifetime of an SVID whose request or entry names none (default: 1h, env: MESHCA_SVID_TTL)');
    expect(help).toContain('--metrics-listen <value> also serve /metrics without authentication on this address (a warning is logged when it is not loopback) (env: MESHCA_METRICS_LISTEN)');
    expect(help).not.toContain('; env ');
  });

  // Told before running the command, not by its error after; and no commander internals ("default: []").
  it.each([
    { command: ['mint'], required: ['--spiffe-id <id>', '--out <dir>'] },
    { command: ['token', 'create'], required: ['--agent <name>'] },
    { command: ['entry', 'create'], required: ['--agent <name>', '--spiffe-id <id>'] },
    { command: ['admin', 'credential'], required: ['--role <role>', '--name <name>', '--out <dir>'] },
    { command: ['authority', 'intermediate', 'import'], required: ['--cert <file>', '--key <file>'] },
  ])('pass/meshca $command --help marks $required as required', async ({ command, required }) => {
    const res = await runMeshca([...command, '--help']);
    expect(res.code).toBe(0);
    const flagLines = res.stdout.split(/\n(?=  -)/).map((help) => help.replace(/\s+/g, ' ').trim());
    for (const line of flagLines.filter((l) => l.startsWith('-'))) {
      expect(line.endsWith('(required)'), line).toBe(required.some((flag) => line.startsWith(`${flag} `)));
    }
    expect(res.stdout).not.toContain('default: []');
  });

  it.each([
    [['--help'], 'meshca'],
    [['token', 'create', '--help'], 'meshca token create'],
    [['help', 'entry'], 'meshca entry'],
    [['help', 'entry', 'create'], 'meshca entry create'],
    [['authority', 'help', 'root', 'prepare'], 'meshca authority root prepare'],
  ])('pass/meshca %j exits 0 with the usage of %s', async (args, command) => {
    const res = await runMeshca(args);
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(res.stdout).toMatch(new RegExp(`^Usage: ${command} \\[options\\]`));
  });
});

describe('operatorMessage', () => {
  it.each([
    ['request body/agent must match pattern "^[a-z]+$"', { agent: 'x' }, {}, '--agent must match pattern "^[a-z]+$"'],
    ['request querystring/issuedAfter must be string', { issuedAfter: 'x' }, {}, '--issued-after must be string'],
    ['request params/name must match pattern "x"', {}, { name: 'agent name "a b"' }, 'agent name "a b" must match pattern "x"'],
    [
      'request body/ttl must NOT have fewer than 2 characters, body/ttl must be integer, body/ttl must be null, body/ttl must match a schema in anyOf',
      { ttl: '1' },
      {},
      '--ttl must NOT have fewer than 2 characters, or must be integer, or must be null',
    ],
    ['request body/dns/0 must NOT have more than 253 characters', { dns: ['x'] }, {}, '--dns must NOT have more than 253 characters'],
    ["request body must have required property 'agent'", {}, {}, '--agent is required'],
    ['request body/importCertFile must be string', { importCertFile: 1 }, { importCertFile: '--import-cert' }, '--import-cert must be string'],
    ['activeAt: "x" is not a time', { activeAt: 'x' }, {}, '--active-at: "x" is not a time'],
    // Not a field of this request: left as the CA wrote it.
    ['note: the CA is rotating', { agent: 'x' }, {}, 'note: the CA is rotating'],
    ['agent node-1 not found', { agent: 'x' }, {}, 'agent node-1 not found'],
  ])('%s → %s', (message, sent, names, expected) => {
    expect(operatorMessage(message, Object.keys(sent), names)).toBe(expected);
  });
});

/** What `meshca agent list` shows comes from the same rows in either datastore (PostgreSQL where one can be started). */
describe.each(await engines())('agent list from the $name datastore', (engine) => {
  it('pass/a name banned before it ever attested has no attestation time; one that attested keeps its own', async () => {
    const { store } = await engine.open(new FakeClock());
    const td = TrustDomain.parse('example.org');
    const note = { type: 'test', actor: 'meshca', data: {} };
    await store.registrations.setAgentStatus('never', 'banned', 50, note, true);
    await store.registrations.createToken({ hash: 'h', agent: 'joined', createdAt: 0, expiresAt: 99, createdBy: 'o', creatorSerial: null, usedAt: null }, note);
    const certificate = issued('a1', 10, { kind: 'agent', agent: 'joined' }).record;
    await store.registrations.completeAttestation({
      tokenHash: 'h',
      now: 10,
      agent: { name: 'joined', status: 'active', attestedAt: 10, lastSeen: 10, svidSerial: certificate.serial, svidNotAfter: certificate.notAfter, statusChangedAt: 10 },
      certificate,
      events: [],
    });
    await store.registrations.setAgentStatus('joined', 'banned', 60, note, true);
    const views = (await store.registrations.listAgents()).map((a) => agentJson(a, td));
    expect(views.map((v) => [v.name, v.status, v.attestedAt])).toEqual([
      ['joined', 'banned', new Date(10_000).toISOString()],
      ['never', 'banned', null],
    ]);
  });
});
