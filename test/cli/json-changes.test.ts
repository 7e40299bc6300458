/**
 * The commands that change something print, with --json, one JSON object on
 * stdout and nothing else there: what a script needs for its next step (the
 * ids, serials, times and states the CA answered), as mint --json and token
 * create --json do. Against a real `meshca server`.
 */
import { describe, expect, it } from 'vitest';
import { runMeshca, type CliResult } from '../support/cli.js';
import { serverPerFile } from '../support/server-per-file.js';
import { tempDir } from '../support/temp-dir.js';

const TD = 'spiffe://example.org';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const HEX_ID = /^[0-9a-f]{40}$/;

describe('meshca changes with --json', () => {
  const ca = serverPerFile();
  const meshca = (...args: string[]): Promise<CliResult> => runMeshca([...args, '--data-dir', ca.dataDir]);

  /** Runs a command that must succeed and print one JSON object as its whole stdout. */
  async function json(...args: string[]): Promise<Record<string, unknown>> {
    const res = await meshca(...args);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.endsWith('}\n') && res.stdout.indexOf('\n') === res.stdout.length - 1).toBe(true);
    return JSON.parse(res.stdout) as Record<string, unknown>;
  }

  it('pass/cert revoke --json: how many, which serials in the order issued, why, and the selector as the CA took it', async () => {
    const minted = await json('mint', '--spiffe-id', `${TD}/ns/revoked`, '--out', `${tempDir()}/m`, '--json');
    const colons = String(minted.serial).match(/../g)!.join(':');
    expect(await json('cert', 'revoke', '--serial', colons, '--reason', 'keyCompromise', '--json')).toEqual({
      revoked: 1, serials: [minted.serial], reason: 'keyCompromise', serial: minted.serial,
    });
    expect(await json('cert', 'revoke', '--spiffe-id', `${TD}/ns/revoked`, '--json')).toEqual({ revoked: 0, serials: [], reason: 'unspecified', spiffeId: `${TD}/ns/revoked` });
    const twice = [await json('mint', '--spiffe-id', `${TD}/ns/twice`, '--out', `${tempDir()}/t1`, '--json'), await json('mint', '--spiffe-id', `${TD}/ns/twice`, '--out', `${tempDir()}/t2`, '--json')];
    expect(await json('cert', 'revoke', '--spiffe-id', `${TD}/ns/twice`, '--json')).toEqual({
      revoked: 2, serials: twice.map((m) => m.serial), reason: 'unspecified', spiffeId: `${TD}/ns/twice`,
    });
  });

  it('pass/token revoke --json: the token\'s id, its agent and when it was revoked', async () => {
    const created = await json('token', 'create', '--agent', 'node-1', '--json');
    const revoked = await json('token', 'revoke', String(created.id), '--json');
    expect(revoked).toEqual({ id: created.id, agent: 'node-1', revokedAt: expect.stringMatching(ISO) });
  });

  it.each([
    ['ban', 'banned'],
    ['unban', 'evicted'],
    ['evict', 'evicted'],
  ])('pass/agent %s --json: the agent as agent list --json shows it, in its new status', async (action, status) => {
    const agent = await json('agent', action, 'node-2', '--json');
    expect(agent).toMatchObject({ name: 'node-2', spiffeId: `${TD}/meshca/agent/node-2`, status });
    const listed = JSON.parse((await meshca('agent', 'list', '--json')).stdout) as unknown[];
    expect(listed).toContainEqual(agent);
  });

  it('pass/authority root prepare, activate, retire, withdraw and intermediate taint with --json: ids, states and the bundle sequence', async () => {
    const before = await json('authority', 'list', '--json');
    const oldRoot = (before.authorities as Array<{ id: string; kind: string }>).find((a) => a.kind === 'root')!.id;

    const prepare = await meshca('authority', 'root', 'prepare', '--json');
    expect(prepare.code, prepare.stderr).toBe(0);
    const prepared = JSON.parse(prepare.stdout) as Record<string, unknown>;
    expect(prepared).toEqual({ id: expect.stringMatching(HEX_ID), state: 'prepared', bundleSequence: Number(before.bundleSequence) + 1 });
    // The advice to write the bundle out is for a person, so it leaves stdout to the JSON.
    expect(prepare.stderr).toContain('Before activating it, write the bundle now');

    const activated = await json('authority', 'root', 'activate', '--force', '--json');
    expect(activated).toEqual({ id: prepared.id, state: 'active', signingIntermediate: expect.stringMatching(HEX_ID) });

    const retired = await json('authority', 'root', 'retire', '--force', '--json');
    expect(retired).toEqual({ id: oldRoot, state: 'retired', bundleSequence: expect.any(Number), revoked: expect.any(Number) });

    const tainted = await json('authority', 'intermediate', 'taint', String(activated.signingIntermediate), '--json');
    expect(tainted).toEqual({ id: activated.signingIntermediate, revoked: expect.any(Number), signingIntermediate: expect.stringMatching(HEX_ID) });
    expect(tainted.signingIntermediate).not.toBe(activated.signingIntermediate);

    const again = await meshca('authority', 'root', 'prepare', '--json');
    const preparedAgain = JSON.parse(again.stdout) as { id: string; bundleSequence: number };
    expect(await json('authority', 'root', 'withdraw', '--json')).toEqual({ id: preparedAgain.id, state: 'retired', bundleSequence: preparedAgain.bundleSequence + 1 });
  });
});
