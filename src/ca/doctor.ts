/**
 * `meshca doctor`: the checks that keep expiry from ever being silent. Pure
 * over the authorities and the clock, so the same verdict can be computed by
 * the server, logged on every tick, and tested without waiting.
 */
import type { AuthoritySet, LoadedAuthority } from './authority-set.js';
import { prepareAt } from './rotation.js';

export interface Finding {
  readonly status: 'ok' | 'fail';
  readonly check: string;
  readonly message: string;
}

export interface DoctorInput {
  readonly set: AuthoritySet;
  readonly now: number;
  /** Seconds before a root's expiry from which it is reported. */
  readonly rootHorizon: number;
  /** Seconds before an intermediate's expiry from which it is reported; by default a sixth of its life, the activation window. */
  readonly intermediateHorizon?: number;
  readonly lastRotationFailure?: { readonly at: number; readonly message: string } | undefined;
  /** The last issuance the datastore could not record, while none has been recorded since. */
  readonly lastRecordingFailure?: { readonly at: number; readonly message: string } | undefined;
}

/** Time the scheduler has to prepare the next intermediate after its due time before doctor calls it behind. */
const ROTATION_GRACE = 300;

/** A span as people say it: whole days from a day up, else whole hours, else whole minutes (never "1.00 days" for 23 h 59 min). */
const days = (s: number) => {
  const [n, unit] = s >= 86400 ? [Number((s / 86400).toFixed(0)), 'day'] : s >= 3600 ? [Math.floor(s / 3600), 'hour'] : [Math.max(0, Math.floor(s / 60)), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
};
const iso = (s: number) => new Date(s * 1000).toISOString();

export function diagnose(input: DoctorInput): Finding[] {
  const { set, now } = input;
  const findings: Finding[] = [];
  const add = (ok: boolean, check: string, message: string) => findings.push({ status: ok ? 'ok' : 'fail', check, message });

  let signing;
  try {
    signing = set.signingIntermediate(now);
    add(true, 'can sign', `intermediate ${signing.record.id} signs until ${iso(signing.record.notAfter)}`);
  } catch {
    add(false, 'can sign', 'no valid signing intermediate: the CA cannot issue');
  }

  const active = set.activeIntermediate();
  if (active) {
    // Peers verify SVIDs against the bundle only: an intermediate whose root left it signs SVIDs nobody accepts.
    const root = set.rootOf(active);
    const inBundle = root !== undefined && set.bundleRoots().includes(root);
    add(
      inBundle,
      'trust bundle',
      inBundle
        ? `intermediate ${active.record.id} chains to root ${root.record.id} of the trust bundle`
        : `intermediate ${active.record.id} chains to no root of the trust bundle: peers cannot verify the SVIDs it signs`,
    );
  }

  for (const root of set.bundleRoots()) {
    const left = root.record.notAfter - now;
    add(
      left > input.rootHorizon,
      'root expiry',
      left > input.rootHorizon
        ? `root ${root.record.id} expires in ${days(left)} (${iso(root.record.notAfter)})`
        : `root ${root.record.id} expires in ${days(left)} (${iso(root.record.notAfter)}), within the ${days(input.rootHorizon)} horizon: ${rootAdvice(set, root)}`,
    );
  }

  const canRotate = Boolean(set.signingRoot()?.signer);
  for (const a of set.ofKind('intermediate').filter((i) => i.record.state !== 'retired')) {
    const life = a.record.notAfter - a.record.notBefore;
    // meshca activates the successor when a sixth is left, at its next scheduled check: late only some minutes after.
    const activation = Math.floor(life / 6);
    const horizon = input.intermediateHorizon ?? (canRotate ? activation - Math.min(ROTATION_GRACE, Math.floor(activation / 2)) : activation);
    const left = a.record.notAfter - now;
    if (a.record.state === 'active' || !canRotate) {
      add(
        left > horizon,
        'intermediate expiry',
        `${a.record.state} intermediate ${a.record.id} expires in ${days(left)} (${iso(a.record.notAfter)})` +
          (left > horizon ? '' : intermediateAdvice(horizon, input.intermediateHorizon !== undefined, canRotate)),
      );
    }
  }

  if (canRotate && active && !set.preparedIntermediateUnder(set.signingRoot())) {
    const due = prepareAt(active.record);
    add(now < due + ROTATION_GRACE, 'rotation schedule', now < due + ROTATION_GRACE
      ? `next intermediate due at ${iso(due)}`
      : `the next intermediate was due at ${iso(due)} and is not prepared: the scheduled rotation is behind`);
  }
  if (input.lastRotationFailure) {
    add(false, 'last rotation', `the scheduled rotation failed at ${iso(input.lastRotationFailure.at)}: ${input.lastRotationFailure.message}`);
  }
  if (input.lastRecordingFailure) {
    add(false, 'recording', `the datastore could not record an issuance at ${iso(input.lastRecordingFailure.at)} and has recorded none since: ${input.lastRecordingFailure.message}`);
  }
  return findings;
}

/**
 * What to do about a root of the bundle within the horizon, by where the
 * rotation stands: an operator halfway through one is told the next step,
 * not to start another (which would put a third root in the bundle).
 */
function rootAdvice(set: AuthoritySet, root: LoadedAuthority): string {
  const prepared = set.ofKind('root', 'prepared')[0];
  if (root === prepared) {
    return 'it is prepared, not signing yet: withdraw it (meshca authority root withdraw) and prepare one that lasts longer';
  }
  const signing = set.signingRoot();
  if (root !== signing) {
    return `root ${signing?.record.id ?? '(none)'} signs now: retire this one (meshca authority root retire) once nothing live chains to it`;
  }
  if (!prepared) return 'prepare, activate and retire a new root';
  // Under a root without its key, the organisation's intermediate imported under it is what activates it.
  const id = prepared.record.id;
  return prepared.signer
    ? `activate the prepared root ${id} (meshca authority root activate), then retire this one`
    : `import an intermediate your organisation issued under the prepared root ${id} (meshca authority intermediate import), then retire this one`;
}

/**
 * What to do about an intermediate within the horizon. Under meshca's own
 * horizon (a sixth of its life) its successor is late; under a longer one the
 * operator gave, it may simply not be due yet, and saying it is late would
 * send them chasing a rotation that is on time.
 */
function intermediateAdvice(horizon: number, given: boolean, canRotate: boolean): string {
  if (!canRotate) return ': import a renewed one with `meshca authority intermediate import --cert FILE --key FILE [--chain FILE]` (meshca cannot rotate one it did not make)';
  if (!given) return ': its successor should be active by now';
  return `, within the ${days(horizon)} horizon you gave; meshca activates its successor when a sixth of its life is left`;
}
