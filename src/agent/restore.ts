/**
 * Picking up at start what a previous run left: the agent SVID and the bundle
 * in --state-dir, and the SVID in --out.
 */
import type { RandomSource } from '../random/random-source.js';
import type { AgentIdentity } from './agent-identity.js';
import { holdCertificate, type HeldCertificate } from './credentials.js';
import type { InstalledSvid } from './installation.js';
import type { PublishedFile } from './installer.js';
import type { SidecarLogger } from './sidecar-deps.js';
import type { StateStore } from './state-store.js';
import { renewalFromOwnLife } from './timing.js';
import type { TrustMaterial } from './trust-material.js';

/** Removes what a crash left in the state directory, and takes its bundle, the roots retired since, the agent credential and any refusal of it. */
export async function restoreStateDir(state: StateStore, log: SidecarLogger, trust: TrustMaterial, identity: AgentIdentity): Promise<void> {
  const removed = await state.removeCrashLeftovers();
  if (removed.length) log.info({ removed }, 'removed temporary files a crash left in the state directory');
  const saved = await state.load();
  if (saved.foreign) {
    log.warn({ files: saved.foreign }, "ignored files in the state directory that another user owns (neither the agent's user nor root): they may have been planted there; remove them");
  }
  if (saved.retiredRoots === 'unreadable') {
    log.warn({}, 'the record of retired roots in the state directory is unreadable; trusting --trust-bundle whole until the CA sends its bundle, and writing the record anew then');
  }
  trust.restoreRetired(saved.retiredRoots);
  if (saved.bundlePem) {
    try {
      trust.trustAlso(saved.bundlePem);
    } catch {
      log.warn({}, 'the saved trust bundle is unreadable; trusting --trust-bundle alone');
    }
  }
  if (!trust.bundlePem) {
    log.error({}, "the CA has retired every root --trust-bundle holds; the CA cannot be trusted until the file holds its current root (read again at every step)");
  }
  await identity.restore(saved.credential, saved.refusal);
}

export interface FoundSvid {
  readonly svid: InstalledSvid;
  /** --combined, and --out has no combined.pem for this SVID (written by a run without it). */
  readonly lacksCombined: boolean;
}

/**
 * A valid SVID in --out whose key matches, and which is for --spiffe-id if
 * given, to be kept as installed. Its entry is unknown until the first sync,
 * which keeps it only if it still matches (Installation.bindFound).
 */
export async function findInstalledSvid(
  readPublished: (() => Promise<readonly PublishedFile[] | undefined>) | undefined,
  o: { readonly nowMs: number; readonly spiffeId: string | undefined; readonly combined: boolean; readonly random: RandomSource; readonly log: SidecarLogger },
): Promise<FoundSvid | undefined> {
  const files = await readPublished?.().catch(() => undefined);
  const read = (name: string) => files?.find((f) => f.name === name)?.data;
  const [chainPem, keyPem] = [read('svid.pem'), read('svid_key.pem')];
  const held = chainPem && keyPem ? holdCertificate(keyPem, chainPem) : undefined;
  const unusable = held ? unusableFoundSvid(held, o.nowMs, o.spiffeId) : 'no SVID with its own key';
  if (!held || unusable) {
    if (files) o.log.info({ reason: unusable }, 'not keeping what --out holds; installing a new SVID');
    return undefined;
  }
  o.log.info({ spiffeId: held.spiffeId, notAfter: new Date(held.notAfterMs).toISOString() }, 'keeping the valid SVID already installed in --out');
  return {
    // Renewed at half of its own life: when the previous run received it is unknown.
    svid: { ...held, entryId: undefined, entryRevision: undefined, bundlePem: read('bundle.pem') ?? '', crlPem: read('crl.pem'), renewAtMs: renewalFromOwnLife(held, o.random) },
    lacksCombined: o.combined && read('combined.pem') !== held.keyPem + held.chainPem,
  };
}

function unusableFoundSvid(held: HeldCertificate, nowMs: number, spiffeId: string | undefined): string | undefined {
  if (held.notAfterMs <= nowMs) return 'expired';
  if (spiffeId !== undefined && held.spiffeId !== spiffeId) return `for ${held.spiffeId}, not --spiffe-id`;
  return undefined;
}
