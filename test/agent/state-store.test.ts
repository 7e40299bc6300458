/** The agent's state directory: its credential in one file (0600) that a crash cannot split, and nothing trusted that cannot be read. */
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/agent/state-store.js';
import { newKeyWithCsr } from '../../src/agent/credentials.js';
import { AtomicDirectoryPublisher } from '../../src/agent/installer.js';
import { systemClock } from '../../src/time/clock.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { MiniCa } from '../support/mini-ca.js';
import { tempDir } from '../support/temp-dir.js';

async function credential(ca: MiniCa) {
  const { keyPem, csr } = await newKeyWithCsr('ec-p256');
  return { keyPem, chainPem: (await ca.issue(csr, 'spiffe://example.org/meshca/agent/node-1', 3600)).chainPem };
}

describe('StateStore', () => {
  it('saves key and chain in one 0600 file and gives them back as they were', async () => {
    const dir = join(tempDir(), 'state');
    const store = new StateStore(dir);
    const saved = await credential(await MiniCa.create());
    await store.saveCredential(saved);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'agent_credential.pem')).mode & 0o777).toBe(0o600);
    expect((await store.load()).credential).toEqual(saved);
  });

  it.each([
    ['a key without a certificate', (c: { keyPem: string }) => c.keyPem],
    ['a certificate without a key', (c: { chainPem: string }) => c.chainPem],
    ['text that is not PEM', () => '-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n'],
  ])('treats %s as no credential', async (_name, content) => {
    const dir = tempDir();
    const store = new StateStore(dir);
    const saved = await credential(await MiniCa.create());
    await store.saveCredential(saved);
    writeFileSync(join(dir, 'agent_credential.pem'), content(saved));
    expect((await store.load()).credential).toBeUndefined();
  });

  it('fail/files planted as links to files elsewhere are not read through (a credential and a bundle kept by someone else)', async () => {
    const other = await credential(await MiniCa.create());
    const elsewhere = join(tempDir(), 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'credential.pem'), other.keyPem + other.chainPem);
    writeFileSync(join(elsewhere, 'bundle.pem'), other.chainPem);
    const dir = tempDir();
    symlinkSync(join(elsewhere, 'credential.pem'), join(dir, 'agent_credential.pem'));
    symlinkSync(join(elsewhere, 'bundle.pem'), join(dir, 'bundle.pem'));
    expect(await new StateStore(dir).load()).toEqual({});
  });

  it("fail/files another user owns (neither the agent's user nor root) are not read: a credential and a bundle planted in a --state-dir others can write to", async () => {
    const dir = join(tempDir(), 'state');
    const planted = await credential(await MiniCa.create());
    await new StateStore(dir).saveCredential(planted);
    await new StateStore(dir).saveBundle(planted.chainPem);
    // The planter: this test's user, or one root makes the files over to; the agent is yet another.
    const planter = process.geteuid!() === 0 ? 54321 : process.geteuid!();
    for (const name of readdirSync(dir)) chownSync(join(dir, name), planter, planter);
    expect(await new StateStore(dir, planter + 1).load()).toEqual({ foreign: ['agent_credential.pem', 'ca_bundle.pem'] });
    // The agent's own files, as the planter is: read.
    expect(await new StateStore(dir, planter).load()).toEqual({ credential: planted, bundlePem: planted.chainPem });
  });

  it('forgets a refused credential', async () => {
    const dir = tempDir();
    const store = new StateStore(dir);
    await store.saveCredential(await credential(await MiniCa.create()));
    await store.forgetCredential();
    expect((await store.load()).credential).toBeUndefined();
    expect(() => readFileSync(join(dir, 'agent_credential.pem'))).toThrow(/ENOENT/);
  });
});

describe('StateStore and the record of roots the CA retired', () => {
  it('keeps them in one 0600 file and gives them back; an empty record is no root, a missing one no record', async () => {
    const dir = join(tempDir(), 'state');
    const store = new StateStore(dir);
    expect((await store.load()).retiredRoots).toBeUndefined();
    const roots = [...decodeCertificates((await MiniCa.create()).bundlePem), ...decodeCertificates((await MiniCa.create()).bundlePem)];
    await store.saveRetiredRoots(roots);
    expect(statSync(join(dir, 'retired_roots.pem')).mode & 0o777).toBe(0o600);
    expect((await store.load()).retiredRoots).toEqual(roots);
    await store.saveRetiredRoots([]);
    expect((await store.load()).retiredRoots).toEqual([]);
  });

  it.each([
    ['text that is not PEM', () => 'retired: none\n'],
    ['a block that is not valid base64', () => '-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n'],
    ['a block that is not a certificate', (c: { keyPem: string }) => c.keyPem],
  ])('calls %s unreadable, not an empty record', async (_name, content) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'retired_roots.pem'), content(await credential(await MiniCa.create())), { mode: 0o600 });
    expect((await new StateStore(dir).load()).retiredRoots).toBe('unreadable');
  });

  it('calls a link planted in its place unreadable, and does not read through it', async () => {
    const elsewhere = join(tempDir(), 'roots.pem');
    writeFileSync(elsewhere, '');
    const dir = tempDir();
    symlinkSync(elsewhere, join(dir, 'retired_roots.pem'));
    expect((await new StateStore(dir).load()).retiredRoots).toBe('unreadable');
  });
});

describe('StateStore and the record that the CA refused the agent', () => {
  const refusal = { code: 'agent_evicted', serial: '0a1b2c', atMs: Date.UTC(2026, 10, 25, 12, 0, 31) };

  it('records it in one 0600 file, gives it back, and forgets it when cleared', async () => {
    const dir = join(tempDir(), 'state');
    const store = new StateStore(dir);
    await store.recordRefusal(refusal);
    expect(statSync(join(dir, 'agent_refused.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'agent_refused.json'), 'utf8')).toBe('{"code":"agent_evicted","serial":"0a1b2c","refusedAt":"2026-11-25T12:00:31.000Z"}\n');
    expect((await store.load()).refusal).toEqual(refusal);
    await store.clearRefusal();
    expect((await store.load()).refusal).toBeUndefined();
  });

  it.each([
    ['text that is not JSON', '{"code":"agent_ev'],
    ['JSON without the fields', '[]'],
  ])('treats %s as a refusal of whatever credential is saved', async (_name, content) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'agent_refused.json'), content, { mode: 0o600 });
    expect((await new StateStore(dir).load()).refusal).toEqual({});
  });
});

describe('StateStore in a directory that is also --out', () => {
  it("fail/keeps the CA's bundle apart from the proxy's bundle.pem: a publication does not take the one, nor a save replace the other", async () => {
    const dir = tempDir();
    const [saved, newer, published] = [(await MiniCa.create()).bundlePem, (await MiniCa.create()).bundlePem, (await MiniCa.create()).bundlePem];
    const store = new StateStore(dir);
    await store.saveBundle(saved);
    await new AtomicDirectoryPublisher(dir, systemClock).publish([{ name: 'bundle.pem', data: published, mode: 0o644 }]);
    expect((await store.load()).bundlePem).toBe(saved);
    await store.saveBundle(newer);
    expect(lstatSync(join(dir, 'bundle.pem')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'bundle.pem'), 'utf8')).toBe(published);
    expect((await store.load()).bundlePem).toBe(newer);
  });
});

describe('StateStore and the two-file layout of earlier builds', () => {
  it('reads agent_key.pem and agent_svid.pem when there is no agent_credential.pem, and removes them once it saves', async () => {
    const dir = tempDir();
    const old = await credential(await MiniCa.create());
    writeFileSync(join(dir, 'agent_key.pem'), old.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'agent_svid.pem'), old.chainPem, { mode: 0o600 });
    const store = new StateStore(dir);
    expect((await store.load()).credential).toEqual(old);
    await store.saveCredential(await credential(await MiniCa.create()));
    expect(readdirSync(dir).sort()).toEqual(['agent_credential.pem']);
  });

  it('reads the bundle earlier builds saved as bundle.pem, and removes that file once it saves one', async () => {
    const dir = tempDir();
    const [old, next] = [(await MiniCa.create()).bundlePem, (await MiniCa.create()).bundlePem];
    writeFileSync(join(dir, 'bundle.pem'), old, { mode: 0o600 });
    const store = new StateStore(dir);
    expect((await store.load()).bundlePem).toBe(old);
    await store.saveBundle(next);
    expect(readdirSync(dir).sort()).toEqual(['ca_bundle.pem']);
    expect((await store.load()).bundlePem).toBe(next);
  });
});
