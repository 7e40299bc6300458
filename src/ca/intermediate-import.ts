/**
 * The operator's replacement of an imported intermediate ("plug-in CA" mode):
 * meshca holds no key for the organisation's root, so it cannot rotate the
 * intermediate it signs with; the operator has the organisation issue a new
 * one and imports it. The new one signs at once; the previous one retires,
 * which keeps its record (certificate and upstream chain) and CRL for the
 * SVIDs it signed until they expire. The trust bundle does not change: the new
 * intermediate must chain to a root already in it. The organisation's next
 * root is prepared from its certificate alone (`meshca authority root
 * prepare --import-cert`), so that agents install it before anything chains
 * to it; the first intermediate imported under it, once it has propagated,
 * makes it the signing root.
 */
import { X509Certificate } from 'node:crypto';
import { CaIntegrityError, ConflictError, InvalidInputError } from '../errors.js';
import { nowSeconds } from '../time/clock.js';
import { formatDuration, seconds, type Duration } from '../time/duration.js';
import { checkImport, takeIntoCustody, type CheckedImport, type ImportedAuthority } from './authority-factory.js';
import { issuedBy } from '../x509/issued-by.js';
import type { AuthoritySet, LoadedAuthority } from './authority-set.js';
import { created, moved, transition } from './authority-transitions.js';
import { SELF } from './caller.js';
import type { LifecycleContext } from './lifecycle-context.js';
import { isValidAt, validityText } from './rotation.js';
import { refuseWhileAgentsUnseen, type UnseenAgents } from './root-rotation.js';

/** The intermediate that signs from now on, and the one it replaced (none when the CA had no active one). */
export interface IntermediateImport {
  readonly intermediate: LoadedAuthority;
  readonly retired: LoadedAuthority | undefined;
}

const iso = (s: number) => new Date(s * 1000).toISOString();

/**
 * Makes an operator's intermediate the signing one at once, retiring the
 * previous one. Refused (ConflictError) on a CA that makes its own
 * intermediates, and (InvalidInputError, before its key goes into custody)
 * for an intermediate that fails the first start's checks, chains to no
 * active root of the bundle, is already known, expires before the current
 * one, or outlives a certificate of its chain.
 */
export async function importIntermediate(
  ctx: LifecycleContext,
  imported: ImportedAuthority,
  by: string,
  activation: RootActivation,
): Promise<IntermediateImport> {
  const set = ctx.current();
  const signingRoot = set.signingRoot();
  if (signingRoot?.signer) {
    throw new ConflictError(
      'precondition_failed',
      `this CA makes its own intermediates under root ${signingRoot.record.id}: they rotate on the schedule (--rotation-schedule); ` +
        'to stop using one at once, run `meshca authority intermediate taint ID`',
    );
  }
  const now = nowSeconds(ctx.clock);
  // Active roots, and an organisation's new root prepared without its key, which this import makes the signing one.
  const roots = [...set.ofKind('root', 'active'), ...set.ofKind('root', 'prepared').filter((r) => !r.signer)];
  const checked = checkImport(imported, 'intermediate', now, roots.map((r) => r.facts), ctx.settings.trustDomain);
  if (!checked.key) throw new InvalidInputError('invalid_request', 'the imported intermediate needs its key: meshca signs SVIDs with it');
  const previous = set.activeIntermediate();
  refuseAsReplacement(set, checked, roots, previous);
  const parent = rootOfImport(checked, roots);
  const activated = parent?.record.state === 'prepared' ? [await activatedOnceTrusted(parent, now, activation)] : [];

  const next = await takeIntoCustody(ctx.factory.custody, checked, 'active', now);
  const retired = previous ? [transition(previous, 'retired', now)] : [];
  const event = created(next, by);
  await ctx.commit([...activated, next, ...retired], set.bundleSequence, [
    ...activated.map((r) => moved(r, 'active', by)),
    { ...event, data: { ...event.data, imported: true, replaces: previous?.record.id ?? null } },
    ...retired.map((r) => moved(r, 'retired', by)),
  ]);
  ctx.log.info({ intermediate: next.record.id, retired: previous?.record.id }, 'imported a new signing intermediate');
  return { intermediate: next, retired: retired[0] };
}

/**
 * At a start naming an intermediate (--import-intermediate-*) on a CA that
 * already holds a PKI: imports it, as `intermediate import --force` would,
 * when the CA signs with an imported intermediate that can no longer sign
 * (expired). Such a CA cannot start otherwise (it has nothing to serve TLS
 * with), so the command, which needs it running, could never replace it.
 * Refused, with the command's reasons, as the command would refuse it;
 * false when there is nothing to replace. Without the options
 * (`imported` undefined), such a CA gets a CaIntegrityError saying to give them.
 */
export async function replaceLapsedImport(ctx: LifecycleContext, imported: ImportedAuthority | undefined, now: number): Promise<boolean> {
  const set = ctx.current();
  const active = set.activeIntermediate();
  if (set.signingRoot()?.signer || (active && isValidAt(active.record, now))) return false;
  if (!imported) {
    throw new CaIntegrityError(
      `the imported intermediate ${active?.record.id ?? '(none)'} cannot sign now${active ? ` (${validityText(active.record)})` : ''}, and meshca cannot make one under your organisation's root: ` +
        'start with --import-intermediate-cert and --import-intermediate-key (and --import-trust-bundle, with --import-intermediate-chain if any) naming a renewed one it issued',
    );
  }
  // The operator named it at the start: that is the --force of the command.
  const forced: RootActivation = { propagation: seconds(1), unseenSince: async () => [], force: true };
  const { intermediate } = await importIntermediate(ctx, imported, SELF, forced);
  ctx.log.warn({ intermediate: intermediate.record.id, replaced: active?.record.id }, 'the imported intermediate could no longer sign: replaced it by the one named at start');
  return true;
}

/** What making a prepared root the signing one waits for, as `root activate` does; `force` waits for neither. */
export interface RootActivation {
  readonly propagation: Duration;
  readonly unseenSince: UnseenAgents;
  readonly force: boolean;
}

/**
 * A prepared root an imported intermediate chains to, made active: refused
 * until it has been in the trust bundle for `propagation`, and while agents
 * not seen since then hold valid SVIDs, as `root activate` is, so that every
 * agent trusts it before anything chains to it; unless forced.
 */
async function activatedOnceTrusted(root: LoadedAuthority, now: number, { propagation, unseenSince, force }: RootActivation): Promise<LoadedAuthority> {
  const published = now - root.record.createdAt;
  if (!force && published < propagation) {
    throw new ConflictError(
      'precondition_failed',
      `the intermediate chains to root ${root.record.id}, prepared ${published}s ago; wait until ${formatDuration(propagation)} have passed so every agent has installed it, or use --force`,
    );
  }
  if (!force) await refuseWhileAgentsUnseen(root, now, unseenSince);
  return transition(root, 'active', now);
}

/** The root of `roots` the imported intermediate (or the top of its chain) is signed by. */
function rootOfImport(checked: CheckedImport, roots: readonly LoadedAuthority[]): LoadedAuthority | undefined {
  const top = (checked.imported.chainDer ?? []).map((der) => new X509Certificate(der)).at(-1) ?? checked.facts.x509;
  return roots.find((r) => issuedBy(top, r.facts.x509));
}

/** The checks that make sense only against the intermediate being replaced and the roots of this CA. */
function refuseAsReplacement(set: AuthoritySet, checked: CheckedImport, roots: readonly LoadedAuthority[], previous: LoadedAuthority | undefined): void {
  const { facts } = checked;
  const id = facts.keyId.toString('hex');
  const bad = (why: string) => new InvalidInputError('invalid_request', `the imported intermediate certificate ${why}`);
  const known = set.byId(id);
  if (known) {
    // Authorities are known by their key: a certificate renewed over the same key would be a second record of one key.
    const same = known.record.certDer.equals(checked.imported.certDer);
    throw new ConflictError(
      'already_exists',
      same
        ? `intermediate ${id} is already known to this CA`
        : `the imported certificate is for the key of intermediate ${id}, already known to this CA: a renewed intermediate needs a new key (have your organisation sign a CSR for one)`,
    );
  }
  if (previous && facts.notAfter < previous.record.notAfter) {
    throw bad(`expires at ${iso(facts.notAfter)}, before the current intermediate ${previous.record.id} (${iso(previous.record.notAfter)}): import a renewed one`);
  }
  refuseOutlivingParents(checked, roots);
}

/**
 * SVIDs must not outlive any certificate above them: an imported intermediate
 * expiring after a certificate of its chain, or after its root, is refused,
 * at the first start as on replacement. checkImport verified the chain and
 * that a root signed its top.
 */
export function refuseOutlivingParents(checked: CheckedImport, roots: readonly LoadedAuthority[]): void {
  const { facts } = checked;
  const chain = (checked.imported.chainDer ?? []).map((der) => new X509Certificate(der));
  const root = rootOfImport(checked, roots);
  const parents: Array<{ name: string; notAfter: number }> = [
    ...chain.map((c) => ({ name: `its chain certificate "${c.subject.replace(/\n/g, ', ')}"`, notAfter: Math.floor(Date.parse(c.validTo) / 1000) })),
    ...(root ? [{ name: `root ${root.record.id}`, notAfter: root.record.notAfter }] : []),
  ];
  for (const parent of parents) {
    if (facts.notAfter > parent.notAfter) {
      throw new InvalidInputError('invalid_request', `the imported intermediate certificate expires at ${iso(facts.notAfter)}, after ${parent.name} (${iso(parent.notAfter)})`);
    }
  }
}
