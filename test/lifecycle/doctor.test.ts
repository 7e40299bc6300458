/**
 * `meshca doctor`: diagnose() over real authorities at chosen times (the
 * verdict is pure), and the command against a running `meshca server`,
 * whose exit code is what cron and CI act on.
 */
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { mintAuthority } from '../../src/ca/authority-factory.js';
import { AuthoritySet, type LoadedAuthority } from '../../src/ca/authority-set.js';
import { diagnose, type DoctorInput } from '../../src/ca/doctor.js';
import type { KeyCustody } from '../../src/ca/ports.js';
import { activateAt, prepareAt } from '../../src/ca/rotation.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { seconds } from '../../src/time/duration.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { runMeshca } from '../support/cli.js';
import { isRunning, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const DAY = 86400;
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0) / 1000;
const ROOT_HORIZON = 60 * DAY;
/** Doctor gives the scheduler this long past the due time before calling rotation behind. */
const GRACE = 300;

/** Keys are not needed to judge: custody keeps nothing. */
const nowhere: KeyCustody = {
  save: async () => undefined,
  load: async () => {
    throw new Error('not kept');
  },
  describe: (ref) => ref,
  list: async () => [],
  setAsideUnreferenced: async () => [],
  encryptAtRest: async () => [],
};

interface Authorities {
  root: LoadedAuthority;
  /** One day, made at T0 under the root. */
  intermediate: LoadedAuthority;
  /** The next one, prepared at the intermediate's half life. */
  prepared: LoadedAuthority;
  /** A root that signed none of the above. */
  otherRoot: LoadedAuthority;
  /** A root of ten years, the next one in a rotation, and the intermediate under it. */
  nextRoot: LoadedAuthority;
  underNext: LoadedAuthority;
}

const a = {} as Authorities;

beforeAll(async () => {
  const deps = { custody: nowhere, random: cryptoRandom, trustDomain: TrustDomain.parse('example.org') };
  a.root = await mintAuthority(deps, 'root', 'active', T0, seconds(365 * DAY));
  a.intermediate = await mintAuthority(deps, 'intermediate', 'active', T0, seconds(DAY), a.root);
  a.prepared = await mintAuthority(deps, 'intermediate', 'prepared', prepareAt(a.intermediate.record), seconds(DAY), a.root);
  a.otherRoot = await mintAuthority(deps, 'root', 'active', T0, seconds(365 * DAY));
  a.nextRoot = await mintAuthority(deps, 'root', 'active', T0, seconds(3650 * DAY));
  a.underNext = await mintAuthority(deps, 'intermediate', 'active', T0, seconds(DAY), a.nextRoot);
});

const set = (...members: Array<keyof Authorities | LoadedAuthority>) =>
  new AuthoritySet(members.map((m) => (typeof m === 'string' ? a[m] : m)), 1);
const life = () => a.intermediate.record;
/** The root as when meshca holds no key for it (an imported intermediate's organisation root). */
const keylessRoot = () => ({ ...a.root, signer: null });
/** The intermediate as journaled when imported: meshca did not sign it, so no parent is recorded. */
const imported = () => ({ ...a.intermediate, record: { ...a.intermediate.record, parentId: null } });
const retiredRoot = () => ({ ...a.root, record: { ...a.root.record, state: 'retired' as const, retiredAt: T0 } });

interface Case {
  readonly name: string;
  readonly input: () => DoctorInput;
  /** The failing checks, in order; every other check is ok. */
  readonly fails: readonly string[];
  /** Part of the first failing check's message. */
  readonly says?: string;
}

const CASES: readonly Case[] = [
  { name: 'pass/fresh CA', input: () => ({ set: set('root', 'intermediate'), now: T0, rootHorizon: ROOT_HORIZON }), fails: [] },
  {
    name: 'fail/root within the horizon',
    input: () => ({ set: set('root', 'intermediate'), now: T0, rootHorizon: 400 * DAY }),
    fails: ['root expiry'],
    says: 'within the 400 days horizon: prepare, activate and retire a new root',
  },
  {
    name: 'fail/root expiring exactly at the horizon',
    input: () => ({ set: set('root', 'intermediate'), now: T0, rootHorizon: a.root.record.notAfter - T0 }),
    fails: ['root expiry'],
  },
  {
    name: 'pass/root expiring a second after the horizon',
    input: () => ({ set: set('root', 'intermediate'), now: T0, rootHorizon: a.root.record.notAfter - T0 - 1 }),
    fails: [],
  },
  {
    name: 'fail/active intermediate within a sixth of its life, the grace period after its successor was due',
    input: () => ({ set: set('root', 'intermediate', 'prepared'), now: activateAt(life()) + GRACE, rootHorizon: ROOT_HORIZON }),
    fails: ['intermediate expiry'],
    says: ': its successor should be active by now',
  },
  {
    name: 'pass/active intermediate at its last sixth, its successor due: the scheduled check has its grace period to activate it',
    input: () => ({ set: set('root', 'intermediate', 'prepared'), now: activateAt(life()), rootHorizon: ROOT_HORIZON }),
    fails: [],
  },
  {
    name: 'pass/active intermediate a second before the grace period after its last sixth',
    input: () => ({ set: set('root', 'intermediate', 'prepared'), now: activateAt(life()) + GRACE - 1, rootHorizon: ROOT_HORIZON }),
    fails: [],
  },
  {
    name: 'fail/active intermediate within an --intermediate-horizon of 2d: named as the horizon given, not as a late successor',
    input: () => ({ set: set('root', 'intermediate'), now: T0, rootHorizon: ROOT_HORIZON, intermediateHorizon: 2 * DAY }),
    fails: ['intermediate expiry'],
    says: ', within the 2 days horizon you gave; meshca activates its successor when a sixth of its life is left',
  },
  {
    name: 'fail/rotation behind: nothing prepared the grace period after half life',
    input: () => ({ set: set('root', 'intermediate'), now: prepareAt(life()) + GRACE, rootHorizon: ROOT_HORIZON }),
    fails: ['rotation schedule'],
    says: 'is not prepared: the scheduled rotation is behind',
  },
  {
    name: 'pass/rotation within its grace period',
    input: () => ({ set: set('root', 'intermediate'), now: prepareAt(life()) + GRACE - 1, rootHorizon: ROOT_HORIZON }),
    fails: [],
  },
  {
    name: 'fail/the last rotation failed',
    input: () => ({ set: set('root', 'intermediate'), now: T0, rootHorizon: ROOT_HORIZON, lastRotationFailure: { at: T0, message: 'disk full' } }),
    fails: ['last rotation'],
    says: 'the scheduled rotation failed at 2026-11-25T12:00:00.000Z: disk full',
  },
  { name: 'fail/no intermediate at all', input: () => ({ set: set('root'), now: T0, rootHorizon: ROOT_HORIZON }), fails: ['can sign'], says: 'the CA cannot issue' },
  {
    name: 'fail/the only intermediate expired',
    input: () => ({ set: set('root', 'intermediate'), now: life().notAfter, rootHorizon: ROOT_HORIZON }),
    fails: ['can sign', 'intermediate expiry', 'rotation schedule'],
  },
  {
    name: 'fail/the intermediate is not valid yet',
    input: () => ({ set: set('root', 'intermediate'), now: life().notBefore - 1, rootHorizon: ROOT_HORIZON }),
    fails: ['can sign'],
  },
  {
    name: 'pass/imported intermediate, no root key, early in its life',
    input: () => ({ set: set(keylessRoot(), 'intermediate'), now: T0, rootHorizon: ROOT_HORIZON }),
    fails: [],
  },
  {
    name: 'fail/imported intermediate, no root key, within a sixth of its life',
    input: () => ({ set: set(keylessRoot(), 'intermediate'), now: activateAt(life()), rootHorizon: ROOT_HORIZON }),
    fails: ['intermediate expiry'],
    says: 'import a renewed one with `meshca authority intermediate import --cert FILE --key FILE [--chain FILE]` (meshca cannot rotate one it did not make)',
  },
  {
    name: 'pass/imported intermediate journaled without a parent, its organisation\'s root in the bundle next to another',
    input: () => ({ set: set({ ...a.otherRoot, signer: null }, keylessRoot(), imported()), now: T0, rootHorizon: ROOT_HORIZON }),
    fails: [],
  },
  {
    name: 'fail/imported intermediate whose organisation\'s root is not in the bundle',
    input: () => ({ set: set({ ...a.otherRoot, signer: null }, imported()), now: T0, rootHorizon: ROOT_HORIZON }),
    fails: ['trust bundle'],
    says: 'chains to no root of the trust bundle',
  },
  {
    name: 'fail/the signing intermediate\'s root was retired',
    input: () => ({ set: set(retiredRoot(), 'otherRoot', 'intermediate'), now: T0, rootHorizon: ROOT_HORIZON }),
    fails: ['trust bundle'],
    says: 'chains to no root of the trust bundle',
  },
];

/** `root` as prepared: in the bundle, signing nothing yet. */
const asPrepared = (root: LoadedAuthority) => ({ ...root, record: { ...root.record, state: 'prepared' as const, activatedAt: null } });

describe('diagnose: what to do about a root within the horizon, by where its rotation stands', () => {
  /** The root of a year (a.root) is within this horizon; the next root, of ten years, is not. Cases read the authorities once they are made. */
  const HORIZON = 400 * DAY;
  it.each([
    {
      name: 'the signing root, nothing prepared: start a rotation',
      members: () => set('root', 'intermediate'),
      says: () => 'prepare, activate and retire a new root',
    },
    {
      name: 'the signing root, the next one prepared: activate it',
      members: () => set('root', 'intermediate', asPrepared(a.nextRoot)),
      says: () => `activate the prepared root ${a.nextRoot.record.id} (meshca authority root activate), then retire this one`,
    },
    {
      name: 'the signing root, an organisation\'s next root prepared without its key: import an intermediate under it',
      members: () => set(keylessRoot(), imported(), { ...asPrepared(a.nextRoot), signer: null }),
      says: () => `import an intermediate your organisation issued under the prepared root ${a.nextRoot.record.id} (meshca authority intermediate import), then retire this one`,
    },
    {
      name: 'superseded by the next root, which signs: retire it',
      members: () => set('root', 'nextRoot', 'underNext'),
      says: () => `root ${a.nextRoot.record.id} signs now: retire this one (meshca authority root retire) once nothing live chains to it`,
    },
    {
      name: 'the prepared root itself: withdraw it for one that lasts longer',
      members: () => set('nextRoot', 'underNext', asPrepared(a.root)),
      says: () => 'it is prepared, not signing yet: withdraw it (meshca authority root withdraw) and prepare one that lasts longer',
    },
  ])('fail/$name', ({ members, says }) => {
    const failing = diagnose({ set: members(), now: T0, rootHorizon: HORIZON }).filter((f) => f.status === 'fail');
    expect(failing).toEqual([{ status: 'fail', check: 'root expiry', message: expect.stringMatching(new RegExp(`^root ${a.root.record.id} expires in `)) }]);
    expect(failing[0]!.message).toContain(`within the 400 days horizon: ${says()}`);
  });
});

describe('diagnose: how long an authority has left, in the words people use', () => {
  it.each([
    [DAY - 1, '23 hours'],
    [2 * 3600 + 59 * 60, '2 hours'],
    [3600, '1 hour'],
    [3599, '59 minutes'],
    [60, '1 minute'],
    [59, '0 minutes'],
  ])('%i s left: "expires in %s"', (left, words) => {
    const findings = diagnose({ set: set('root', 'intermediate'), now: a.intermediate.record.notAfter - left, rootHorizon: ROOT_HORIZON });
    expect(findings.find((f) => f.check === 'intermediate expiry')!.message).toContain(`intermediate ${a.intermediate.record.id} expires in ${words} (`);
  });
});

describe('diagnose', () => {
  it.each(CASES)('$name', ({ input, fails, says }) => {
    const findings = diagnose(input());
    expect(findings.filter((f) => f.status === 'fail').map((f) => f.check)).toEqual(fails);
    if (says) expect(findings.find((f) => f.status === 'fail')!.message).toContain(says);
  });

  it('pass/a fresh CA gets every check, each ok', () => {
    const findings = diagnose({ set: set('root', 'intermediate'), now: T0, rootHorizon: ROOT_HORIZON });
    expect(findings.map((f) => [f.status, f.check])).toEqual([
      ['ok', 'can sign'],
      ['ok', 'trust bundle'],
      ['ok', 'root expiry'],
      ['ok', 'intermediate expiry'],
      ['ok', 'rotation schedule'],
    ]);
  });
});

describe('meshca doctor against a running meshca server', () => {
  async function server(args: string[]): Promise<{ dataDir: string; process: ServerProcess }> {
    const dataDir = tempDir('doc');
    const started = await startServer(['--data-dir', dataDir, ...args]);
    onTestFinished(async () => {
      expect(await started.stop()).toBe(0);
      expect(isRunning(started.pid)).toBe(false);
    });
    return { dataDir, process: started };
  }

  it('pass/exit 0 on a fresh CA; fail/exit 1 with --root-horizon 400d (the default root lives 365d)', async () => {
    const { dataDir } = await server([]);
    const fresh = await runMeshca(['doctor', '--data-dir', dataDir]);
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(fresh.stdout.trim().split('\n').map((l) => l.slice(0, 6))).toEqual(['ok    ', 'ok    ', 'ok    ', 'ok    ', 'ok    ']);

    const far = await runMeshca(['doctor', '--root-horizon', '400d', '--json', '--data-dir', dataDir]);
    expect(far.code).toBe(1);
    const report = JSON.parse(far.stdout) as { ok: boolean; findings: Array<{ status: string; check: string; message: string }> };
    expect(report.ok).toBe(false);
    expect(report.findings.filter((f) => f.status === 'fail').map((f) => f.check)).toEqual(['root expiry']);
    expect(report.findings.find((f) => f.status === 'fail')!.message).toMatch(/expires in 365 days .*within the 400 days horizon/);
  });

  it('fail/exit 1 on a CA started with --root-ttl 30d (within the default 60d horizon)', async () => {
    const { dataDir } = await server(['--root-ttl', '30d']);
    const run = await runMeshca(['doctor', '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL {2}root expiry: root [0-9a-f]{40} expires in 30 days .* within the 60 days horizon/m);
    expect(run.stdout.match(/^FAIL/gm)).toHaveLength(1);
  });
});
