/**
 * Setting a CA up for an agent (a trust bundle file, a registration entry, a
 * join token) and reading back what the agent installed, the way the install
 * contract says to: resolve OUT/..data once, then read inside that version.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asOperator, joinToken } from './callers.js';
import type { InProcessCa, TestCa } from './test-ca.js';

/** Writes the CA's current bundle to DIR/trust-bundle.pem (what --trust-bundle and curl --cacert read) and returns the path. */
export function writeTrustBundle(ca: TestCa, dir: string): string {
  const path = join(dir, 'trust-bundle.pem');
  writeFileSync(path, ca.bundlePem);
  return path;
}

/** Creates the registration entry granting `agent` the identity `spiffeId`; returns the entry id. */
export async function registerWorkload(ca: InProcessCa, agent: string, spiffeId: string, o: { ttl?: string; dns?: string[] } = {}): Promise<string> {
  const entry = await asOperator(ca, 'POST', '/v1/entries', {
    agent,
    spiffeId,
    dns: o.dns ?? ['localhost'],
    ...(o.ttl ? { ttl: o.ttl } : {}),
  });
  return entry.id as string;
}

/** An entry for a new agent and a join token for it. */
export async function enrollAgent(ca: TestCa, agent: string, spiffeId: string, o: { ttl?: string; dns?: string[] } = {}): Promise<{ token: string; entryId: string }> {
  const entryId = await registerWorkload(ca, agent, spiffeId, o);
  return { entryId, token: await joinToken(ca, agent) };
}

export interface InstalledSet {
  /** The version directory ..data pointed at. */
  readonly version: string;
  readonly chainPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
  readonly leaf: X509Certificate;
  readonly spiffeId: string;
  /** Whether the key is the leaf's. */
  readonly keyMatches: boolean;
}

export function uriSan(cert: X509Certificate): string {
  return (cert.subjectAltName ?? '').split(', ').find((n) => n.startsWith('URI:'))?.slice(4) ?? '';
}

/** What OUT holds now, read consistently through one resolution of ..data. */
export function readInstalled(out: string): InstalledSet {
  const version = readlinkSync(join(out, '..data'));
  const read = (name: string) => readFileSync(join(out, version, name), 'utf8');
  const chainPem = read('svid.pem');
  const keyPem = read('svid_key.pem');
  const leaf = new X509Certificate(chainPem);
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return {
    version,
    chainPem,
    keyPem,
    bundlePem: read('bundle.pem'),
    leaf,
    spiffeId: uriSan(leaf),
    keyMatches: fromKey.equals(leaf.publicKey.export({ type: 'spki', format: 'der' })),
  };
}
