/**
 * The CA key lifecycle: opens the journaled authorities at start (creating the
 * PKI on first start), and moves intermediates through prepared → active →
 * retired on each idempotent `tick`. Every change is committed to the journal
 * before the in-memory snapshot is swapped, so a restart resumes where it was.
 */
import { CaIntegrityError } from '../errors.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';
import type { RandomSource } from '../x509/serial.js';
import { loadAuthority, mintAuthority } from './authority-factory.js';
import { AuthoritySet, type LoadedAuthority } from './authority-set.js';
import { SELF } from './caller.js';
import type { AuditEvent, AuthorityRecord } from './model.js';
import type { AuthorityJournal, KeyCustody, Logger } from './ports.js';
import { isValidAt, shouldActivateNext, shouldPrepareNext } from './rotation.js';

export interface AuthoritySettings {
  readonly trustDomain: TrustDomain;
  readonly rootTtl: Duration;
  readonly intermediateTtl: Duration;
}

export interface AuthorityManagerDeps {
  readonly journal: AuthorityJournal;
  readonly custody: KeyCustody;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly log: Logger;
}

export type AuthorityListener = (set: AuthoritySet) => void;

export class AuthorityManager {
  private readonly listeners: AuthorityListener[] = [];
  /** Serializes lifecycle changes: a tick and an operator's command never interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly deps: AuthorityManagerDeps,
    private readonly settings: AuthoritySettings,
    private set: AuthoritySet,
  ) {}

  /**
   * Loads the PKI, or creates it when the datastore holds none. `freshDatastore`
   * says the datastore was created by this start: finding CA keys then means
   * the records were lost, and meshca refuses rather than make a new root.
   */
  static async open(deps: AuthorityManagerDeps, settings: AuthoritySettings, freshDatastore: boolean): Promise<AuthorityManager> {
    const records = await deps.journal.listAuthorities();
    const now = nowSeconds(deps.clock);
    if (records.length === 0) {
      const orphans = await deps.custody.list();
      if (freshDatastore && orphans.length > 0) {
        throw new CaIntegrityError(
          `${deps.custody.describe(orphans[0]!)} holds a CA key but the datastore is new: the CA's records were lost. ` +
            'Restore the datastore from backup; meshca never replaces an existing root on its own.',
        );
      }
      const manager = new AuthorityManager(deps, settings, new AuthoritySet([], 0));
      await manager.createPki(now);
      return manager;
    }
    const loaded = await Promise.all(records.map((r) => loadAuthority(deps.custody, r)));
    const set = new AuthoritySet(loaded, await deps.journal.bundleSequence());
    checkIntegrity(set, now);
    const manager = new AuthorityManager(deps, settings, set);
    await manager.tick();
    return manager;
  }

  current(): AuthoritySet {
    return this.set;
  }

  onChange(listener: AuthorityListener): void {
    this.listeners.push(listener);
  }

  /** Brings the intermediates up to date with the clock; safe to call any number of times. */
  tick(): Promise<void> {
    return this.serialized(() => this.rotateIntermediate(nowSeconds(this.deps.clock)));
  }

  private async createPki(now: number): Promise<void> {
    const deps = { custody: this.deps.custody, random: this.deps.random, trustDomain: this.settings.trustDomain };
    const root = await mintAuthority(deps, 'root', 'active', now, this.settings.rootTtl);
    const intermediate = await mintAuthority(deps, 'intermediate', 'active', now, this.settings.intermediateTtl, root);
    await this.commit([root, intermediate], 1, [created(root), created(intermediate)]);
    this.deps.log.info({ root: root.record.id, intermediate: intermediate.record.id }, 'created a new PKI');
  }

  private async rotateIntermediate(now: number): Promise<void> {
    const root = this.set.activeRoot();
    if (!root?.signer) return;
    const active = this.set.activeIntermediate();
    const prepared = this.set.ofKind('intermediate', 'prepared')[0];
    const deps = { custody: this.deps.custody, random: this.deps.random, trustDomain: this.settings.trustDomain };

    if (!active || !isValidAt(active.record, now)) {
      // Catching up (first tick after downtime, or the active one is gone): promote or mint at once.
      const promoted = prepared && isValidAt(prepared.record, now) ? prepared : undefined;
      const next = promoted
        ? transition(promoted, 'active', now)
        : await mintAuthority(deps, 'intermediate', 'active', now, this.settings.intermediateTtl, root);
      const retired = [active, prepared]
        .filter((a): a is LoadedAuthority => a !== undefined && a !== promoted)
        .map((a) => transition(a, 'retired', now));
      await this.commit([next, ...retired], this.set.bundleSequence, [
        promoted ? moved(next, 'active') : created(next),
        ...retired.map((r) => moved(r, 'retired')),
      ]);
      this.deps.log.warn({ intermediate: next.record.id }, 'no valid signing intermediate: activated the next one at once');
      return;
    }
    if (prepared && shouldActivateNext(active.record, now)) {
      const next = transition(prepared, 'active', now);
      const old = transition(active, 'retired', now);
      await this.commit([next, old], this.set.bundleSequence, [moved(next, 'active'), moved(old, 'retired')]);
      this.deps.log.info({ active: next.record.id, retired: old.record.id }, 'rotated the signing intermediate');
      return;
    }
    if (!prepared && shouldPrepareNext(active.record, now)) {
      const next = await mintAuthority(deps, 'intermediate', 'prepared', now, this.settings.intermediateTtl, root);
      await this.commit([next], this.set.bundleSequence, [created(next)]);
      this.deps.log.info({ prepared: next.record.id }, 'prepared the next signing intermediate');
    }
  }

  private async commit(upserts: LoadedAuthority[], bundleSequence: number, events: AuditEvent[]): Promise<void> {
    await this.deps.journal.applyAuthorityChange({ upserts: upserts.map((a) => a.record), bundleSequence, events });
    this.set = this.set.withChange(upserts, bundleSequence);
    for (const listener of this.listeners) listener(this.set);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function transition(a: LoadedAuthority, state: AuthorityRecord['state'], now: number): LoadedAuthority {
  const record: AuthorityRecord = {
    ...a.record,
    state,
    activatedAt: state === 'active' ? now : a.record.activatedAt,
    retiredAt: state === 'retired' ? now : a.record.retiredAt,
  };
  return { ...a, record, signer: state === 'retired' ? null : a.signer };
}

function created(a: LoadedAuthority): AuditEvent {
  const r = a.record;
  return {
    type: 'authority.created',
    actor: SELF,
    data: { id: r.id, kind: r.kind, state: r.state, parent: r.parentId, notBefore: r.notBefore, notAfter: r.notAfter },
  };
}

function moved(a: LoadedAuthority, to: AuthorityRecord['state']): AuditEvent {
  return { type: `authority.${to === 'active' ? 'activated' : to}`, actor: SELF, data: { id: a.record.id, kind: a.record.kind } };
}

/** Refuses to start on an expired root or an authority whose certificate its parent did not sign. */
function checkIntegrity(set: AuthoritySet, now: number): void {
  const root = set.activeRoot();
  if (!root) throw new CaIntegrityError('the datastore has authorities but no active root');
  if (now >= root.record.notAfter) {
    throw new CaIntegrityError(
      `the root ${root.record.id} expired at ${new Date(root.record.notAfter * 1000).toISOString()}; ` +
        'prepare and activate a new root (meshca authority root prepare --force) or restore a valid one',
    );
  }
  for (const a of set.authorities) {
    if (a.record.state === 'retired' || !a.record.parentId) continue;
    const parent = set.byId(a.record.parentId);
    if (!parent || !a.facts.x509.verify(parent.facts.x509.publicKey)) {
      throw new CaIntegrityError(`the ${a.record.kind} ${a.record.id} is not signed by its recorded parent ${a.record.parentId}`);
    }
  }
}
