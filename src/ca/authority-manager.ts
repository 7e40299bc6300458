/**
 * The CA key lifecycle: opens the journaled authorities at start (creating or
 * importing the PKI on first start), moves intermediates through prepared →
 * active → retired on each idempotent `tick`, and carries out the operator's
 * root rotation (prepare → activate → retire) and taints. Every change is
 * committed to the journal before the in-memory snapshot is swapped, so a
 * restart resumes where it was and a crash mid-rotation loses nothing.
 */
import { CaIntegrityError, ConflictError, NotFoundError } from '../errors.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { formatDuration, type Duration } from '../time/duration.js';
import type { RandomSource } from '../random/random-source.js';
import { importAuthority, isSpiffeUri, loadAuthority, mintAuthority, upstreamRoot, type ImportedAuthority } from './authority-factory.js';
import { AuthoritySet, type LoadedAuthority } from './authority-set.js';
import { SELF } from './caller.js';
import type { AuditEvent, AuthorityRecord } from './model.js';
import { aloneCoordinator, type AuthorityJournal, type Coordinator, type KeyCustody, type Logger } from './ports.js';
import { canTakeOver, isValidAt, shouldActivateNext, shouldPrepareNext } from './rotation.js';

export interface AuthoritySettings {
  readonly trustDomain: TrustDomain;
  readonly rootTtl: Duration;
  readonly intermediateTtl: Duration;
}

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

/** How the first start gets its PKI when meshca is not to generate it ("bring your own CA"). */
export type InitialPki =
  | { readonly kind: 'generate' }
  | { readonly kind: 'root'; readonly root: ImportedAuthority }
  | { readonly kind: 'intermediate'; readonly intermediate: ImportedAuthority; readonly rootsDer: readonly Buffer[] };

export type AuthorityListener = (set: AuthoritySet) => void;
/** Told the id of an intermediate another replica tainted, once this replica has stopped signing with it. */
export type TaintListener = (intermediateId: string) => void;

export class AuthorityManager {
  private readonly listeners: AuthorityListener[] = [];
  private readonly taintListeners: TaintListener[] = [];
  /** The second in which other replicas' changes were last looked for (adoptRecentChanges). */
  private adoptedAt = -1;
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
  static async open(
    deps: AuthorityManagerDeps,
    settings: AuthoritySettings,
    freshDatastore: boolean,
    initial: InitialPki = { kind: 'generate' },
  ): Promise<AuthorityManager> {
    const coordinator = deps.coordinator ?? aloneCoordinator;
    // Replicas starting together: one creates the PKI, the others wait for it and load it.
    for (let attempt = 0; ; attempt++) {
      const opened = await coordinator.exclusive(() => AuthorityManager.openAlone(deps, settings, freshDatastore, initial));
      if (opened) return opened;
      if (attempt >= 120) throw new CaIntegrityError('another replica held the lifecycle lock for a minute; cannot start');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private static async openAlone(
    deps: AuthorityManagerDeps,
    settings: AuthoritySettings,
    freshDatastore: boolean,
    initial: InitialPki,
  ): Promise<AuthorityManager> {
    const records = await deps.journal.listAuthorities();
    if (records.length === 0) {
      const orphans = await deps.custody.list();
      if (freshDatastore && orphans.length > 0) {
        throw new CaIntegrityError(
          `${deps.custody.describe(orphans[0]!)} holds a CA key but the datastore is new: the CA's records were lost. ` +
            'Restore the datastore from backup; meshca never replaces an existing root on its own.',
        );
      }
      await setAsideUnreferencedKeys(deps, records);
      const manager = new AuthorityManager(deps, settings, new AuthoritySet([], 0));
      await manager.createPki(nowSeconds(deps.clock), initial);
      return manager;
    }
    await setAsideUnreferencedKeys(deps, records);
    if (initial.kind !== 'generate') deps.log.warn({}, 'the datastore already holds a PKI; the import options apply only to the first start and are ignored');
    const loaded = await Promise.all(records.map((r) => loadAuthority(deps.custody, r)));
    const set = new AuthoritySet(loaded, await deps.journal.bundleSequence());
    checkIntegrity(set, nowSeconds(deps.clock), settings.trustDomain);
    const manager = new AuthorityManager(deps, settings, set);
    await manager.rotateIntermediate(nowSeconds(deps.clock));
    return manager;
  }

  current(): AuthoritySet {
    return this.set;
  }

  onChange(listener: AuthorityListener): void {
    this.listeners.push(listener);
  }

  onForeignTaint(listener: TaintListener): void {
    this.taintListeners.push(listener);
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
   * Picks up what other replicas changed, then brings the intermediates up to
   * date with the clock, if no other replica is doing so right now. Safe to
   * call any number of times.
   */
  tick(): Promise<void> {
    return this.serialized(async () => {
      await this.refresh();
      await (this.deps.coordinator ?? aloneCoordinator).exclusive(async () => {
        await this.refresh();
        await this.rotateIntermediate(nowSeconds(this.deps.clock));
      });
    });
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
    this.set = this.set.withChange(loaded, sequence);
    this.deps.log.info({ changed: changed.map((r) => `${r.kind} ${r.id} ${r.state}`) }, 'adopted authority changes made by another replica');
    for (const listener of this.listeners) listener(this.set);
    for (const id of newlyTainted) for (const listener of this.taintListeners) listener(id);
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

  /**
   * Adds a new root to the trust bundle, next to the current one, without
   * using it yet, with the intermediate that will sign under it. Made now, the
   * intermediate's CRL is published with the bundle through the propagation
   * wait: proxies that check CRLs (nginx ssl_crl, HAProxy crl-file) want one
   * from every CA of a chain, and one first seen at activation would make them
   * refuse every SVID it signs until their agents next sync.
   */
  prepareRoot(by: string, imported?: ImportedAuthority): Promise<LoadedAuthority> {
    return this.operatorChange(async () => {
      const existing = this.set.ofKind('root', 'prepared')[0];
      if (existing) throw new ConflictError('precondition_failed', `root ${existing.record.id} is already prepared; activate it first`);
      const now = nowSeconds(this.deps.clock);
      const root = imported
        ? await importAuthority(this.deps.custody, imported, 'root', 'prepared', now, [], this.settings.trustDomain)
        : await mintAuthority(this.factoryDeps(), 'root', 'prepared', now, this.settings.rootTtl);
      if (this.set.byId(root.record.id)) throw new ConflictError('already_exists', `root ${root.record.id} is already known`);
      const first = root.signer ? [await mintAuthority(this.factoryDeps(), 'intermediate', 'prepared', now, this.settings.intermediateTtl, root)] : [];
      await this.commit([root, ...first], this.set.bundleSequence + 1, [root, ...first].map((a) => created(a, by)));
      this.deps.log.info({ root: root.record.id }, 'prepared a new root; it is now in the trust bundle');
      return root;
    });
  }

  /**
   * Makes the prepared root the one that signs: the intermediate prepared
   * under it (or, if that one is gone, a new one) becomes active at once, the
   * old intermediates retire (keeping their SVIDs valid), and the old root
   * stays in the bundle until retired. Refused until
   * the new root has been in the bundle for `propagation`, unless forced.
   */
  activateRoot(by: string, propagation: Duration, force: boolean): Promise<LoadedAuthority> {
    return this.operatorChange(async () => {
      const prepared = this.set.ofKind('root', 'prepared')[0];
      if (!prepared) throw new ConflictError('precondition_failed', 'no prepared root; run `meshca authority root prepare` first');
      if (!prepared.signer) throw new ConflictError('precondition_failed', `root ${prepared.record.id} has no key in custody; it cannot sign intermediates`);
      const now = nowSeconds(this.deps.clock);
      const published = now - prepared.record.createdAt;
      if (!force && published < propagation) {
        throw new ConflictError(
          'precondition_failed',
          `root ${prepared.record.id} has been in the trust bundle for ${published}s; wait until ${formatDuration(propagation)} have passed ` +
            'so every agent has installed it, or use --force',
        );
      }
      const root = transition(prepared, 'active', now);
      // The oldest that can still take over: its CRL has been out longest.
      const waiting = this.set.preparedIntermediatesUnder(prepared).filter((w) => canTakeOver(w.record, now));
      const promoted = waiting[0];
      const intermediate = promoted
        ? transition(promoted, 'active', now)
        : await mintAuthority(this.factoryDeps(), 'intermediate', 'active', now, this.settings.intermediateTtl, root);
      // A younger one waiting under the new root stays prepared: the scheduled rotation's next.
      const retired = [...this.set.ofKind('intermediate', 'active'), ...this.set.ofKind('intermediate', 'prepared')]
        .filter((a) => a !== promoted && !waiting.includes(a))
        .map((a) => transition(a, 'retired', now));
      await this.commit([root, intermediate, ...retired], this.set.bundleSequence, [
        moved(root, 'active', by, { force }),
        promoted ? moved(intermediate, 'active', by) : created(intermediate, by),
        ...retired.map((r) => moved(r, 'retired', by)),
      ]);
      this.deps.log.info({ root: root.record.id, intermediate: intermediate.record.id }, 'activated the new root');
      return root;
    });
  }

  /**
   * Removes the superseded root from the bundle. Refused while unexpired,
   * unrevoked certificates still chain to it (`liveUnder` counts them), unless forced.
   */
  retireRoot(by: string, liveUnder: (ids: readonly string[]) => Promise<number>, force: boolean): Promise<LoadedAuthority> {
    return this.operatorChange(async () => {
      const old = this.set.supersededRoots()[0];
      if (!old) throw new ConflictError('precondition_failed', 'no superseded root to retire (activate a new root first)');
      const under = this.set.authorities.filter((a) => this.set.rootOf(a) === old).map((a) => a.record.id);
      const live = await liveUnder(under);
      if (live > 0 && !force) {
        throw new ConflictError('precondition_failed', `${live} unexpired certificates still chain to root ${old.record.id}; wait for them to expire, or use --force`);
      }
      const now = nowSeconds(this.deps.clock);
      const retired = this.set.authorities
        .filter((a) => under.includes(a.record.id) && a.record.state !== 'retired')
        .map((a) => transition(a, 'retired', now));
      await this.commit(retired, this.set.bundleSequence + 1, retired.map((r) => moved(r, 'retired', by, r.record.id === old.record.id ? { force, live } : {})));
      this.deps.log.info({ root: old.record.id, live }, 'retired the old root; it is no longer in the trust bundle');
      return retired.find((r) => r.record.id === old.record.id)!;
    });
  }

  /**
   * Taints an intermediate: it stops signing at once (an active one is replaced
   * by the prepared next one or a new one) and its parent's CRL revokes it. The
   * caller revokes the SVIDs it signed.
   */
  retireIntermediateNow(id: string, by: string): Promise<LoadedAuthority> {
    return this.operatorChange(async () => {
      const target = this.set.byId(id);
      if (!target || target.record.kind !== 'intermediate') throw new NotFoundError(`intermediate ${id}`);
      const now = nowSeconds(this.deps.clock);
      const changes: LoadedAuthority[] = [];
      const events: AuditEvent[] = [];
      if (target.record.state === 'active') {
        const root = this.set.signingRoot();
        const waiting = this.set.preparedIntermediateUnder(root);
        const prepared = waiting && isValidAt(waiting.record, now) ? waiting : undefined;
        if (!prepared && !root?.signer) throw new ConflictError('precondition_failed', 'no root key in custody to make a replacement intermediate');
        const next = prepared ? transition(prepared, 'active', now) : await mintAuthority(this.factoryDeps(), 'intermediate', 'active', now, this.settings.intermediateTtl, root);
        changes.push(next);
        events.push(prepared ? moved(next, 'active', by) : created(next, by));
      }
      const tainted = transition(target, 'retired', now);
      changes.push({ ...tainted, record: { ...tainted.record, retiredAt: target.record.retiredAt ?? now, taintedAt: now } });
      events.push({ type: 'authority.tainted', actor: by, data: { id, kind: 'intermediate', wasState: target.record.state } });
      await this.commit(changes, this.set.bundleSequence, events);
      return this.set.byId(id)!;
    });
  }

  private factoryDeps() {
    return { custody: this.deps.custody, random: this.deps.random, trustDomain: this.settings.trustDomain };
  }

  private async createPki(now: number, initial: InitialPki): Promise<void> {
    if (initial.kind === 'intermediate') {
      const roots = initial.rootsDer.map((der) => upstreamRoot(der, now));
      const intermediate = await importAuthority(this.deps.custody, initial.intermediate, 'intermediate', 'active', now, roots.map((r) => r.facts), this.settings.trustDomain);
      if (!intermediate.signer) throw new CaIntegrityError('the imported intermediate needs its key: meshca signs SVIDs with it');
      await this.commit([...roots, intermediate], 1, [...roots.map((r) => created(r, SELF)), created(intermediate, SELF)]);
      this.deps.log.info({ intermediate: intermediate.record.id }, 'using the imported intermediate; meshca holds no root key and cannot rotate it');
      return;
    }
    const root =
      initial.kind === 'root'
        ? await importAuthority(this.deps.custody, initial.root, 'root', 'active', now, [], this.settings.trustDomain)
        : await mintAuthority(this.factoryDeps(), 'root', 'active', now, this.settings.rootTtl);
    if (!root.signer) throw new CaIntegrityError('the imported root needs its key to sign intermediates');
    const intermediate = await mintAuthority(this.factoryDeps(), 'intermediate', 'active', now, this.settings.intermediateTtl, root);
    await this.commit([root, intermediate], 1, [created(root, SELF), created(intermediate, SELF)]);
    this.deps.log.info({ root: root.record.id, intermediate: intermediate.record.id }, initial.kind === 'root' ? 'using the imported root' : 'created a new PKI');
  }

  /**
   * Makes every transition the clock calls for, one after another: a CA back
   * after downtime past both the prepare and the activate points must do both
   * now, not leave the old intermediate signing until the next tick.
   */
  private async rotateIntermediate(now: number): Promise<void> {
    // At most three transitions are ever due at once (catch up, prepare, activate); the bound only guards against a loop.
    for (let step = 0; step < 4; step++) {
      if (!(await this.rotateIntermediateStep(now))) break;
    }
    for (let step = 0; step < 3; step++) {
      if (!(await this.keepIntermediateWaiting(now))) return;
    }
  }

  /**
   * Keeps an intermediate ready under a prepared root, on the schedule the
   * signing one follows: a successor is prepared at half of the waiting one's
   * life, and a waiting one retires when a sixth of its life remains and a
   * younger one waits. However long the operator waits before activating the
   * root, the one promoted then has had its CRL out for at least a third of
   * an intermediate's life (or since the prepare), and is not due for
   * replacement at once by one whose CRL no proxy has.
   */
  private async keepIntermediateWaiting(now: number): Promise<boolean> {
    const root = this.set.ofKind('root', 'prepared')[0];
    if (!root?.signer) return false;
    const waiting = this.set.preparedIntermediatesUnder(root);
    const newest = waiting.at(-1);
    if (!newest || shouldPrepareNext(newest.record, now)) {
      const next = await mintAuthority(this.factoryDeps(), 'intermediate', 'prepared', now, this.settings.intermediateTtl, root);
      await this.commit([next], this.set.bundleSequence, [created(next, SELF)]);
      this.deps.log.info({ root: root.record.id, prepared: next.record.id }, 'prepared the next intermediate to wait under the prepared root');
      return true;
    }
    const spent = waiting.filter((w) => w !== newest && !canTakeOver(w.record, now)).map((w) => transition(w, 'retired', now));
    if (spent.length === 0) return false;
    await this.commit(spent, this.set.bundleSequence, spent.map((r) => moved(r, 'retired', SELF)));
    return true;
  }

  /** The next transition due at `now`, if any; true when it made one. */
  private async rotateIntermediateStep(now: number): Promise<boolean> {
    const root = this.set.signingRoot();
    if (!root?.signer) return false; // an imported intermediate: rotation is the operator's (meshca doctor warns)
    const active = this.set.activeIntermediate();
    // Not one prepared under a prepared root: that one waits for its root's activation.
    const prepared = this.set.preparedIntermediateUnder(root);

    if (!active || !isValidAt(active.record, now)) {
      // Catching up (first tick after downtime, or the active one is gone): promote or mint at once.
      const promoted = prepared && isValidAt(prepared.record, now) ? prepared : undefined;
      const next = promoted
        ? transition(promoted, 'active', now)
        : await mintAuthority(this.factoryDeps(), 'intermediate', 'active', now, this.settings.intermediateTtl, root);
      const retired = [active, prepared]
        .filter((a): a is LoadedAuthority => a !== undefined && a !== promoted)
        .map((a) => transition(a, 'retired', now));
      await this.commit([next, ...retired], this.set.bundleSequence, [
        promoted ? moved(next, 'active', SELF) : created(next, SELF),
        ...retired.map((r) => moved(r, 'retired', SELF)),
      ]);
      this.deps.log.warn({ intermediate: next.record.id }, 'no valid signing intermediate: activated the next one at once');
      return true;
    }
    if (prepared && shouldActivateNext(active.record, now)) {
      const next = transition(prepared, 'active', now);
      const old = transition(active, 'retired', now);
      await this.commit([next, old], this.set.bundleSequence, [moved(next, 'active', SELF), moved(old, 'retired', SELF)]);
      this.deps.log.info({ active: next.record.id, retired: old.record.id }, 'rotated the signing intermediate');
      return true;
    }
    if (!prepared && shouldPrepareNext(active.record, now)) {
      const next = await mintAuthority(this.factoryDeps(), 'intermediate', 'prepared', now, this.settings.intermediateTtl, root);
      await this.commit([next], this.set.bundleSequence, [created(next, SELF)]);
      this.deps.log.info({ prepared: next.record.id }, 'prepared the next signing intermediate');
      return true;
    }
    return false;
  }

  private async commit(upserts: LoadedAuthority[], bundleSequence: number, events: AuditEvent[]): Promise<void> {
    const replica = this.deps.replica;
    const recorded = replica ? events.map((e) => ({ ...e, data: { ...e.data, replica } })) : events;
    await this.deps.journal.applyAuthorityChange({ upserts: upserts.map((a) => a.record), bundleSequence, events: recorded });
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
  return { ...a, record };
}

function created(a: LoadedAuthority, actor: string): AuditEvent {
  const r = a.record;
  return {
    type: 'authority.created',
    actor,
    data: { id: r.id, kind: r.kind, state: r.state, parent: r.parentId, notBefore: r.notBefore, notAfter: r.notAfter, keyHeld: r.keyRef !== null },
  };
}

function moved(a: LoadedAuthority, to: AuthorityRecord['state'], actor: string, extra: Record<string, unknown> = {}): AuditEvent {
  return { type: `authority.${to === 'active' ? 'activated' : to}`, actor, data: { id: a.record.id, kind: a.record.kind, ...extra } };
}

/** Refuses to start on an expired root or an authority whose certificate its parent did not sign. */
function checkIntegrity(set: AuthoritySet, now: number, trustDomain: TrustDomain): void {
  const root = set.signingRoot();
  if (!root) throw new CaIntegrityError('the datastore has authorities but no active root');
  if (now >= root.record.notAfter) {
    throw new CaIntegrityError(
      `the root ${root.record.id} expired at ${new Date(root.record.notAfter * 1000).toISOString()}; ` +
        'restore a valid root, or start a new CA in a new data directory and re-register the workloads',
    );
  }
  for (const a of set.authorities) {
    if (a.record.state === 'retired' || !a.record.parentId) continue;
    const parent = set.byId(a.record.parentId);
    if (!parent || !a.facts.x509.verify(parent.facts.x509.publicKey)) {
      throw new CaIntegrityError(`the ${a.record.kind} ${a.record.id} is not signed by its recorded parent ${a.record.parentId}`);
    }
  }
  // The trust domain is in every certificate the CA signs with: changing the flag cannot move them. (An
  // organisation's roots, whose keys meshca does not hold, may serve other trust domains too.)
  const other = set.authorities
    .filter((a) => a.record.state !== 'retired' && a.signer !== null)
    .flatMap((a) => a.facts.uris.filter(isSpiffeUri).map((uri) => ({ a, uri })))
    .find(({ uri }) => uri !== trustDomain.idString());
  if (other) {
    throw new CaIntegrityError(
      `this CA's ${other.a.record.kind} ${other.a.record.id} is for ${other.uri}, not the configured ${trustDomain.idString()}: ` +
        'a trust domain cannot change in place; keep the old --trust-domain, or start a new CA in a new data directory and re-register the workloads',
    );
  }
}

/**
 * A CA key no journal record names was, most likely, saved by a server killed
 * before it committed the record: it never signed anything anyone holds.
 * Left in custody it could sign, with no record or event naming it; it is set
 * aside instead (kept, in case the datastore was restored from an older backup).
 */
async function setAsideUnreferencedKeys(deps: AuthorityManagerDeps, records: readonly AuthorityRecord[]): Promise<void> {
  const moved = (await deps.custody.setAsideUnreferenced?.(new Set(records.flatMap((r) => (r.keyRef === null ? [] : [r.keyRef]))))) ?? [];
  if (moved.length) deps.log.warn({ keys: moved }, 'set aside CA keys no record names (a server stopped while creating an authority, or a datastore older than its keys)');
}
