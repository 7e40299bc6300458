/**
 * What AuthorityManager hands each lifecycle step (creating the PKI, the
 * scheduled intermediate rotation, the operator's root rotation and taints):
 * the snapshot as of the last commit, the one way to change it, and what
 * minting an authority needs. Steps run inside the manager's serialization
 * and lifecycle lock, so nothing but their own `commit` changes the snapshot:
 * a step may read it once, and reads it again after a commit.
 */
import type { TrustDomain } from '../identity/trust-domain.js';
import type { Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';
import { mintAuthority, type AuthorityFactoryDeps } from './authority-factory.js';
import type { AuthoritySet, LoadedAuthority } from './authority-set.js';
import type { AuditEvent, AuthorityState } from './model.js';
import type { Logger } from './ports.js';

export interface AuthoritySettings {
  readonly trustDomain: TrustDomain;
  /** Where trustDomain is set, as the embedding names it (SettingNames.trustDomain), for a refusal to point to. */
  readonly trustDomainSetting: string;
  readonly rootTtl: Duration;
  readonly intermediateTtl: Duration;
}

export interface LifecycleContext {
  readonly settings: AuthoritySettings;
  readonly factory: AuthorityFactoryDeps;
  readonly clock: Clock;
  readonly log: Logger;
  /** The snapshot as of the last commit. */
  current(): AuthoritySet;
  /** Journals the change (records and their audit events as one), then swaps the snapshot and tells the listeners. */
  commit(upserts: LoadedAuthority[], bundleSequence: number, events: AuditEvent[]): Promise<void>;
}

export function mintRoot(ctx: LifecycleContext, state: AuthorityState, now: number): Promise<LoadedAuthority> {
  return mintAuthority(ctx.factory, 'root', state, now, ctx.settings.rootTtl);
}

/** Throws when `root` cannot sign: callers check first, with a message that says what the operator can do. */
export function mintIntermediate(ctx: LifecycleContext, state: AuthorityState, now: number, root: LoadedAuthority | undefined): Promise<LoadedAuthority> {
  return mintAuthority(ctx.factory, 'intermediate', state, now, ctx.settings.intermediateTtl, root);
}
