/**
 * The file `meshca entry apply` reads: what `entry list --json` prints is a
 * manifest as it stands, and every entry is held to the CA's rules before
 * anything is sent, each wrong one named by its index.
 */
import { describe, expect, it } from 'vitest';
import { ManifestError, parseEntryManifest } from '../../src/cli/entry-manifest.js';

const TD = 'spiffe://example.org';

function problems(text: string): string {
  try {
    parseEntryManifest(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return (err as Error).message;
  }
  throw new Error('the manifest was accepted');
}

describe('parseEntryManifest', () => {
  it('reads a listing as printed, skipping the fields that are the CA\'s (id, times, revision)', () => {
    const listed = [
      { id: 'a1', agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 1800, dns: ['web.svc'], createdAt: '2026-11-27T00:00:00.000Z', updatedAt: '2026-11-27T00:00:00.000Z', revision: 3 },
      { id: 'b2', agent: 'node-2', spiffeId: `${TD}/ns/db`, ttl: null, dns: [], createdAt: '2026-11-27T00:00:00.000Z', updatedAt: '2026-11-27T00:00:00.000Z', revision: 1 },
    ];
    const entries = parseEntryManifest(JSON.stringify(listed));
    expect(entries.map((e) => ({ agent: e.agent, spiffeId: e.spiffeId.toString(), ttl: e.ttl?.seconds ?? null, dns: e.dns }))).toEqual([
      { agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 1800, dns: ['web.svc'] },
      { agent: 'node-2', spiffeId: `${TD}/ns/db`, ttl: null, dns: [] },
    ]);
  });

  it.each([
    { ttl: 600, seconds: 600, written: '600s' },
    { ttl: '1h', seconds: 3600, written: '1h' },
    { ttl: '300m', seconds: 18_000, written: '300m' },
    { ttl: null, seconds: null, written: null },
    { ttl: undefined, seconds: null, written: null },
  ])('takes ttl $ttl as $seconds, written $written for the CA to quote', ({ ttl, seconds, written }) => {
    const [entry] = parseEntryManifest(JSON.stringify([{ agent: 'n', spiffeId: `${TD}/x`, ttl }]));
    expect(entry!.ttl && { seconds: entry!.ttl.seconds, written: entry!.ttl.written }).toEqual(written === null ? null : { seconds, written });
  });

  it('reads a file saved with a byte-order mark', () => {
    expect(parseEntryManifest(`\uFEFF[{"agent":"n","spiffeId":"${TD}/x"}]`)).toHaveLength(1);
  });

  it('keeps DNS names as the CA does: lowercased, each once, in the order given', () => {
    const [entry] = parseEntryManifest(JSON.stringify([{ agent: 'n', spiffeId: `${TD}/x`, dns: ['B.example', 'a.example', 'b.example'] }]));
    expect(entry!.dns).toEqual(['b.example', 'a.example']);
  });

  it.each([
    { name: 'text that is not JSON', text: '[{', says: 'not JSON:' },
    { name: 'an object instead of an array', text: '{"entries":[]}', says: 'must be a JSON array of entries' },
    { name: 'an entry that is not an object', text: '["web"]', says: 'entry [0] is not an object' },
    { name: 'a misspelt field', text: `[{"agent":"n","spiffeId":"${TD}/x","tll":60}]`, says: 'entry [0] has unknown field "tll"' },
    { name: 'no agent', text: `[{"spiffeId":"${TD}/x"}]`, says: 'entry [0] needs "agent", a string' },
    { name: 'no SPIFFE ID', text: '[{"agent":"n"}]', says: 'entry [0] needs "spiffeId", a string' },
    { name: 'an agent name with a space', text: `[{"agent":"node 1","spiffeId":"${TD}/x"}]`, says: 'entry [0] agent: agent name "node 1" must be' },
    { name: 'a trust domain\'s ID, which names no workload', text: `[{"agent":"n","spiffeId":"${TD}"}]`, says: 'entry [0] spiffeId:' },
    { name: 'one of meshca\'s own identities', text: `[{"agent":"n","spiffeId":"${TD}/meshca/agent/x"}]`, says: "entry [0] spiffeId: spiffe://example.org/meshca/agent/x is reserved for meshca's own identities" },
    { name: 'a ttl of 0', text: `[{"agent":"n","spiffeId":"${TD}/x","ttl":0}]`, says: 'entry [0] ttl: 0 is neither whole seconds' },
    { name: 'a fractional ttl', text: `[{"agent":"n","spiffeId":"${TD}/x","ttl":1.5}]`, says: 'entry [0] ttl: 1.5 is neither' },
    { name: 'a ttl that is no duration', text: `[{"agent":"n","spiffeId":"${TD}/x","ttl":"5x"}]`, says: 'entry [0] ttl: "5x" is not a duration' },
    { name: 'dns that is not an array', text: `[{"agent":"n","spiffeId":"${TD}/x","dns":"web.svc"}]`, says: 'entry [0] dns: is not an array of strings' },
    { name: 'a DNS name that is not one', text: `[{"agent":"n","spiffeId":"${TD}/x","dns":["web_svc"]}]`, says: 'entry [0] dns: "web_svc" is not a DNS name' },
    { name: 'a ttl longer than any CA takes', text: `[{"agent":"n","spiffeId":"${TD}/x","ttl":1000000000}]`, says: 'entry [0] ttl: 1000000000 is longer than any CA takes' },
    { name: 'a ttl string longer than any CA takes', text: `[{"agent":"n","spiffeId":"${TD}/x","ttl":"36500d"}]`, says: 'entry [0] ttl: 36500d is longer than any CA takes' },
    { name: 'an infinite ttl', text: `[{"agent":"n","spiffeId":"${TD}/x","ttl":1e400}]`, says: 'entry [0] ttl: Infinity is neither whole seconds' },
    { name: 'more DNS names than an entry may have', text: JSON.stringify([{ agent: 'n', spiffeId: `${TD}/x`, dns: Array.from({ length: 33 }, (_, i) => `n${i}.example`) }]), says: 'entry [0] dns: 33 names, more than the 32' },
    { name: 'a field given twice in one object', text: `[{"agent":"node-1","spiffeId":"${TD}/x","agent":"node-9"}]`, says: 'names "agent" twice in one object' },
    {
      name: 'one agent holding one identity twice',
      text: `[{"agent":"n","spiffeId":"${TD}/x"},{"agent":"m","spiffeId":"${TD}/x"},{"agent":"n","spiffeId":"${TD}/x","ttl":60}]`,
      says: 'entry [2] repeats entry [0] (n, spiffe://example.org/x)',
    },
  ])('refuses $name', ({ text, says }) => {
    expect(problems(text)).toContain(says);
  });

  it('names every wrong entry at once, so one edit fixes the file', () => {
    const text = JSON.stringify([{ agent: 'ok', spiffeId: `${TD}/x` }, { agent: 'a b', spiffeId: `${TD}/y` }, { agent: 'ok', spiffeId: `${TD}/z`, ttl: -1 }]);
    expect(problems(text)).toBe(
      'entry [1] agent: agent name "a b" must be 1-128 characters of [A-Za-z0-9._-], not starting with "."; entry [2] ttl: -1 is neither whole seconds, a duration such as "1h", nor null',
    );
  });
});
