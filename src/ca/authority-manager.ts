/**
 * The CA key lifecycle: opens the journaled authorities at start (creating or
 * importing the PKI on first start), moves intermediates through prepared →
 * active → retired on each idempotent `tick`, and carries out the operator's
 * root rotation (prepare → activate → retire) and taints. Every change is
 * committed to the journal before the in-memory snapshot is swapped, so a
 * restart resumes where it was and a crash mid-rotation loses nothing.
 *
 * This class owns the snapshot, the order of changes and who is told of
 * them; what each change is lives in the step modules it calls
 * (pki-creation, intermediate-rotation, root-rotation, intermediate-taint,
 * intermediate-import).
 */
import { CaIntegrityError, ConflictError } from '../errors.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';
import type { RandomSource } from '../random/random-source.js';
import { loadAuthority, type ImportedAuthority } from './authority-factory.js';
import { checkIntegrity, refuseKeysWithoutRecords, refuseOwnRootAfterImportBegun, setAsideUnreferencedKeys } from './authority-integrity.js';
import { AuthoritySet, type LoadedAuthority } from './authority-set.js';
import { importIntermediate, replaceLapsedImport, type IntermediateImport, type RootActivation } from './intermediate-import.js';
import { rotateIntermediate } from './intermediate-rotation.js';
import { taintIntermediate } from './intermediate-taint.js';
import type { AuthoritySettings, LifecycleContext } from './lifecycle-context.js';
import type { AuditEvent, AuthorityKind, AuthorityState } from './model.js';
import { createPki, type InitialPki } from './pki-creation.js';
import { aloneCoordinator, type AuthorityJournal, type Coordinator, type KeyCustody, type Logger } from './ports.js';
import * as rootRotation from './root-rotation.js';
import type { UnseenAgents } from './root-rotation.js';

export type { AuthoritySettings } from './lifecycle-context.js';
export type { InitialPki } from './pki-creation.js';

export interface AuthorityManagerDeps {
  readonly journal: AuthorityJournal;
  readonly custody: KeyCustody;
  /** Keeps replicas sharing the journal from making lifecycle changes at the same time; embedded CAs run alone. */
  readonly coordinator?: Coordinator;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly log: Logger;
  /** Names this CA process in every lifecycle event, so operators of several replicas see which one acted. */
  readonly replica?: string;
}

export type AuthorityListener = (set: AuthoritySet) => void;
/** Told of an authority another replica withdrew: an intermediate it tainted, or a root it retired. */
export type WithdrawalListener = (authorityId: string) => void;
/** Told of each state an authority enters through this process's own commits (not those adopted from other replicas). */
export type TransitionListener = (kind: AuthorityKind, entered: AuthorityState) => void;

export class AuthorityManager {
  private readonly listeners: AuthorityListener[] = [];
  private readonly taintListeners: WithdrawalListener[] = [];
  private readonly rootRetirementListeners: WithdrawalListener[] = [];
  private readonly transitionListeners: TransitionListener[] = [];
  /** The second in which other replicas' changes were last looked for (adoptRecentChanges). */
  private adoptedAt = -1;
  /** Serializes lifecycle changes: a tick and an operator's command never interleave. */
  private queue: Promise<unknown> = Promise.resolve();
  /** What the lifecycle steps see of this manager: the snapshot and `commit`, the only way they change it. */
  private readonly lifecycle: LifecycleContext;

  private constructor(
    private readonly deps: AuthorityManagerDeps,
    settings: AuthoritySettings,
    private set: AuthoritySet,
  ) {
    this.lifecycle = {
      settings,
      factory: { custody: deps.custody, random: deps.random, trustDomain: settings.trustDomain },
      clock: deps.clock,
      log: deps.log,
      current: () => this.set,
      commit: (upserts, bundleSequence, events) => this.commit(upserts, bundleSequence, events),
    };
  }

  /**
   * Loads the PKI, or creates it when the datastore holds none (and never
   * began one: finding CA keys then means the records were lost, and meshca
   * refuses rather than make a new root).
   */
  static async open(
    deps: AuthorityManagerDeps,
    settings: AuthoritySettings,
    initial: InitialPki = { kind: 'generate' },
  ): Promise<AuthorityManager> {
    const coordinator = deps.coordinator ?? aloneCoordinator;
    // Replicas starting together: one creates the PKI, the others wait for it and load it.
    for (let attempt = 0; ; attempt++) {
      const opened = await coordinator.exclusive(() => AuthorityManager.openAlone(deps, settings, initial));
      if (opened) return opened;
      if (attempt >= 120) throw new CaIntegrityError('another replica held the lifecycle lock for a minute; cannot start');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private static async openAlone(
    deps: AuthorityManagerDeps,
    settings: AuthoritySettings,
    initial: InitialPki,
  ): Promise<AuthorityManager> {
    const records = await deps.journal.listAuthorities();
    if (records.length === 0) {
      const begun = await deps.journal.pkiBegun();
      await refuseKeysWithoutRecords(deps.custody, begun !== undefined);
      refuseOwnRootAfterImportBegun(begun, initial);
      await setAsideUnreferencedKeys(deps.custody, deps.log, records);
      await deps.journal.notePkiBegun(initial.kind === 'generate' ? 'generate' : 'import');
      const manager = new AuthorityManager(deps, settings, new AuthoritySet([], 0));
      await createPki(manager.lifecycle, nowSeconds(deps.clock), initial);
      return manager;
    }
    await setAsideUnreferencedKeys(deps.custody, deps.log, records);
    const loaded = await Promise.all(records.map((r) => loadAuthority(deps.custody, r)));
    const set = new AuthoritySet(loaded, await deps.journal.bundleSequence());
    checkIntegrity(set, nowSeconds(deps.clock), settings);
    const manager = new AuthorityManager(deps, settings, set);
    const replaced = await replaceLapsedImport(manager.lifecycle, initial.kind === 'intermediate' ? initial.intermediate : undefined, nowSeconds(deps.clock));
    if (initial.kind !== 'generate' && !replaced) {
      deps.log.warn({}, 'the datastore already holds a PKI; the import options apply only to the first start (or to replace an imported intermediate that can no longer sign) and are ignored');
    }
    await rotateIntermediate(manager.lifecycle, nowSeconds(deps.clock));
    return manager;
  }

  current(): AuthoritySet {
    return this.set;
  }

  onChange(listener: AuthorityListener): void {
    this.listeners.push(listener);
  }

  onForeignTaint(listener: WithdrawalListener): void {
    this.taintListeners.push(listener);
  }

  /** For counting lifecycle work: each replica reports what it did itself, so that a sum over replicas counts it once. */
  onTransition(listener: TransitionListener): void {
    this.transitionListeners.push(listener);
  }

  /** What this replica signed under a root another replica retired must be revoked here, as the retirement revoked the rest. */
  onForeignRootRetirement(listener: WithdrawalListener): void {
    this.rootRetirementListeners.push(listener);
  }

  /**
   * For replicas sharing the journal: adopts what the others changed, at most
   * once a second, so that an intermediate one of them tainted stops signing
   * here within a second rather than at the next tick. Called before every
   * signature; a CA alone with its journal has nothing to adopt.
   */
  async adoptRecentChanges(now: number): Promise<void> {
    if ((this.deps.coordinator ?? aloneCoordinator) === aloneCoordinator || now === this.adoptedAt) return;
    this.adoptedAt = now;
    await this.serialized(() => this.refresh());
  }

  /**
   * Adopts what the other replicas changed, now, whenever it was last done:
   * for a signature that must never come from an authority another replica
   * has just tainted (an audit checkpoint, which nothing revokes).
   */
  async catchUp(): Promise<void> {
    if ((this.deps.coordinator ?? aloneCoordinator) === aloneCoordinator) return;
    await this.serialized(() => this.refresh());
  }

  /**
   * Picks up what other replicas changed, then brings the intermediates up to
   * date with the clock, if no other replica is doing so right now. Safe to
   * call any number of times.
   */
  tick(): Promise<void> {
    return this.serialized(async () => {
      await this.refresh();
      await (this.deps.coordinator ?? aloneCoordinator).exclusive(async () => {
        await this.refresh();
        await rotateIntermediate(this.lifecycle, nowSeconds(this.deps.clock));
      });
    });
  }

  /** Adds a new root to the trust bundle, unused yet, with its first intermediate (root-rotation.ts). */
  prepareRoot(by: string, imported?: ImportedAuthority): Promise<LoadedAuthority> {
    return this.operatorChange(() => rootRotation.prepareRoot(this.lifecycle, by, imported));
  }

  /**
   * Makes the prepared root the one that signs, once it has been in the bundle
   * for `propagation` and no agent with a valid SVID is `unseenSince` it was
   * put there, unless forced (root-rotation.ts).
   */
  activateRoot(
    by: string, propagation: Duration, force: boolean, unseenSince: UnseenAgents,
  ): Promise<LoadedAuthority> {
    return this.operatorChange(() => rootRotation.activateRoot(this.lifecycle, by, propagation, force, unseenSince));
  }

  /** Takes the prepared root, unused, out of the bundle (root-rotation.ts). */
  withdrawRoot(by: string): Promise<LoadedAuthority> {
    return this.operatorChange(() => rootRotation.withdrawPreparedRoot(this.lifecycle, by));
  }

  /** Removes the superseded root from the bundle, once nothing `liveUnder` counts chains to it unless forced (root-rotation.ts). */
  retireRoot(by: string, liveUnder: (ids: readonly string[]) => Promise<number>, force: boolean): Promise<LoadedAuthority> {
    return this.operatorChange(() => rootRotation.retireRoot(this.lifecycle, by, liveUnder, force));
  }

  /**
   * Taints an intermediate: it stops signing at once and its parent's CRL
   * revokes it (intermediate-taint.ts). The caller revokes the SVIDs it signed;
   * `already` says it was tainted before, as the journal has it.
   */
  retireIntermediateNow(id: string, by: string): Promise<{ readonly tainted: LoadedAuthority; readonly already: boolean }> {
    return this.operatorChange(() => taintIntermediate(this.lifecycle, id, by));
  }

  /**
   * Replaces the signing intermediate of a CA that signs with an imported one
   * by another the operator imports; the previous one retires (intermediate-import.ts).
   */
  importIntermediate(imported: ImportedAuthority, by: string, activation: RootActivation): Promise<IntermediateImport> {
    return this.operatorChange(() => importIntermediate(this.lifecycle, imported, by, activation));
  }

  /** Reloads the journal and adopts changes another replica made (new authorities, transitions). */
  private async refresh(): Promise<void> {
    const records = await this.deps.journal.listAuthorities();
    const sequence = await this.deps.journal.bundleSequence();
    const changed = records.filter((r) => {
      const known = this.set.byId(r.id)?.record;
      return !known || known.state !== r.state || known.taintedAt !== r.taintedAt;
    });
    if (changed.length === 0 && sequence === this.set.bundleSequence) return;
    const loaded = await Promise.all(
      changed.map(async (r) => {
        const known = this.set.byId(r.id);
        return known ? { ...known, record: r } : loadAuthority(this.deps.custody, r);
      }),
    );
    const newlyTainted = changed.filter((r) => r.taintedAt !== null && (this.set.byId(r.id)?.record.taintedAt ?? null) === null).map((r) => r.id);
    const newlyRetiredRoots = changed.filter((r) => r.kind === 'root' && r.state === 'retired' && this.set.byId(r.id)?.record.state !== 'retired').map((r) => r.id);
    this.set = this.set.withChange(loaded, sequence);
    this.deps.log.info({ changed: changed.map((r) => `${r.kind} ${r.id} ${r.state}`) }, 'adopted authority changes made by another replica');
    for (const listener of this.listeners) listener(this.set);
    for (const id of newlyTainted) for (const listener of this.taintListeners) listener(id);
    for (const id of newlyRetiredRoots) for (const listener of this.rootRetirementListeners) listener(id);
  }

  /** Runs an operator's lifecycle change holding the lock, after adopting other replicas' changes. */
  private operatorChange<T>(work: () => Promise<T>): Promise<T> {
    return this.serialized(async () => {
      const result = await (this.deps.coordinator ?? aloneCoordinator).exclusive(async () => {
        await this.refresh();
        return { value: await work() };
      });
      if (!result) throw new ConflictError('precondition_failed', 'another replica is changing the authorities right now; try again');
      return result.value;
    });
  }

  private async commit(upserts: LoadedAuthority[], bundleSequence: number, events: AuditEvent[]): Promise<void> {
    const replica = this.deps.replica;
    const recorded = replica ? events.map((e) => ({ ...e, data: { ...e.data, replica } })) : events;
    await this.deps.journal.applyAuthorityChange({ upserts: upserts.map((a) => a.record), bundleSequence, events: recorded });
    const entered = upserts.filter((a) => this.set.byId(a.record.id)?.record.state !== a.record.state).map((a) => a.record);
    this.set = this.set.withChange(upserts, bundleSequence);
    for (const listener of this.listeners) listener(this.set);
    for (const { kind, state } of entered) for (const listener of this.transitionListeners) listener(kind, state);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
