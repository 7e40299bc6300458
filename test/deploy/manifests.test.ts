/**
 * deploy/ checked against the code it deploys: every manifest parses and is
 * part of a kustomization, every name a manifest refers to is defined, every
 * MESHCA_* variable is one meshca reads and holds a value it accepts, ports
 * and probes agree with the listen settings, every file meshca is told to read
 * is one the deployment puts there (a ConfigMap or Secret key at that path, a
 * systemd credential the unit loads), and nothing runs as root or with
 * privileges — in the pods, the image and the systemd units, but for the unit
 * that has systemd reload the proxy, root with one capability in a sandbox
 * that leaves it nothing else. Docker cannot
 * run here, so the Dockerfile is checked by its structure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_OPTIONS, AGENT_SECRET_VARIABLES } from '../../src/config/agent-config.js';
import { ConfigError, envName, resolveOptions, type OptionTable } from '../../src/config/options.js';
import { parseListenAddress } from '../../src/config/parsers.js';
import { loadServerConfig, SERVER_OPTIONS } from '../../src/config/server-config.js';
import {
  allContainers, credentialIds, credentialProblems, DEPLOY, directive, dockerEnv, dockerStages, envFile, environment, filesUnder, find, KUBERNETES,
  loadKustomization, parseManifestFile, parseUnit, podSpecs, portNumber, referenceProblems, rel, REPO, securityProblems, selectorProblems,
  undefinedCredentials, unitEnvironment, volumePath,
  type Container, type FileSource, type Kustomization, type Manifest, type PodSpec, type Probe, type Stage, type Unit, type Volume, type VolumeMount,
} from '../support/deploy-files.js';

/**
 * Whether `command` runs here. When it does not, the test that needs it is
 * skipped, and says so loudly, as the PostgreSQL tests do: a skip is easy to
 * miss among hundreds of passes.
 */
function available(command: string, args: readonly string[], test: string, remedy: string): boolean {
  if (!spawnSync(command, args, { encoding: 'utf8' }).error) return true;
  console.warn(`\n*** ${command} is not installed here: "${test}" is NOT run (${remedy}). ***\n`);
  return false;
}

// Debian's kubernetes-client (kubectl 1.20, kustomize 2.0.3) predates the `labels:` field deploy/kubernetes/base uses.
const HAS_KUBECTL = available('kubectl', ['version', '--client'], 'builds with kubectl kustomize', 'it needs kubectl 1.21 or later, with kustomize 4.1 or later');
const HAS_SYSTEMD_ANALYZE = available('systemd-analyze', ['--version'], 'passes systemd-analyze verify', '.ci/run installs it: apt-get install systemd');

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };

// --- what the code reads --------------------------------------------------------

type Role = 'server' | 'agent';
const SETTINGS: Record<Role, { table: OptionTable; prefix: string; extra: string[] }> = {
  server: { table: SERVER_OPTIONS, prefix: 'MESHCA', extra: ['MESHCA_CONFIG', 'MESHCA_KEY_PASSPHRASE'] },
  agent: { table: AGENT_OPTIONS, prefix: 'MESHCA_AGENT', extra: ['MESHCA_AGENT_CONFIG'] },
};
/** Per program: a CA setting given to the agent (or the reverse) is as ignored as a misspelt one. */
const ALLOWED: Record<Role, Set<string>> = {
  server: allowed('server'),
  agent: allowed('agent'),
};
function allowed(role: Role): Set<string> {
  const { table, prefix, extra } = SETTINGS[role];
  return new Set([...Object.values(table).map((spec) => envName(prefix, spec.name)), ...extra]);
}

/**
 * Settings whose value is a path, config file included: it exists only in
 * the pod or on the host, so it is checked against mounts, not read. Given as
 * the variable or as the flag (the same name).
 */
interface PathSetting { readonly setting: string; readonly variable: string; readonly is: 'file' | 'directory' }
function pathSettings(role: Role): PathSetting[] {
  const { table, prefix } = SETTINGS[role];
  const paths = Object.values(table).filter((s) => /file|directory/.test(s.expected));
  return [...paths, { name: 'config', expected: 'a file' }].map((s) => ({ setting: s.name, variable: envName(prefix, s.name), is: /directory/.test(s.expected) ? 'directory' : 'file' }));
}
/** Path settings meshca writes to; their mounts must be writable. */
const WRITTEN = new Set(['data-dir', 'out', 'state-dir']);

/** What meshca itself says about these values: the real loaders, less the path settings. */
function settingProblems(role: Role, env: ReadonlyMap<string, string | undefined>): string[] {
  const paths = new Set(pathSettings(role).map((s) => s.variable));
  const values = Object.fromEntries([...env].filter(([k, v]) => v !== undefined && !paths.has(k)));
  if (role === 'agent') {
    const problems: string[] = [];
    resolveOptions(AGENT_OPTIONS, 'MESHCA_AGENT', { flags: {}, env: values }, problems);
    return problems;
  }
  try {
    loadServerConfig({ flags: {}, env: values });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

const LISTEN_PORT = parseListenAddress(SERVER_OPTIONS.listen.default).port;

/** A figure README.md gives as measured (Performance), which the manifests must allow for; a reworded README fails loudly here. */
const README = readFileSync(join(REPO, 'README.md'), 'utf8');
function readmeFigure(pattern: RegExp): number {
  const m = pattern.exec(README);
  if (!m) throw new Error(`README.md no longer matches ${pattern}`);
  return Number(m[1]);
}
/** The CA's resident memory under full load ("CA at 1.8 cores, 300 MB"), in bytes. */
const CA_FULL_LOAD_BYTES = readmeFigure(/CA at [\d.]+ cores, (\d+) MB/) * 1e6;
/** The longest the agent answers nothing, in seconds: reading a new CRL of 50,000 entries. */
const AGENT_LONGEST_PAUSE_S = readmeFigure(/CRL of 50,000 entries[^]*?takes about ([\d.]+) s/);
/** How long a start may spend on schema migrations ("schema migrations at start get an hour"), in seconds. */
const MIGRATION_BUDGET_S = /schema migrations at start\s+get an hour/.test(README) ? 3600 : readmeFigure(/schema migrations at start\s+get (\d+) s/);
/** How long the CA's /readyz waits for its datastore before it answers 503 store_unavailable, in seconds. */
const READYZ_DATASTORE_WAIT_S = readmeFigure(/while its datastore does not answer within (\d+) seconds/);

/** A Kubernetes memory quantity ("128Mi", "1G") in bytes; NaN when absent or of another form. */
const QUANTITY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
function quantityBytes(q: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(|k|M|G|Ki|Mi|Gi)$/.exec(q ?? '');
  return m ? Number(m[1]) * QUANTITY_UNITS[m[2]!]! : Number.NaN;
}

// --- the image ---------------------------------------------------------------------

const DOCKERFILE = join(DEPLOY, 'container', 'Dockerfile');
const stages = dockerStages(readFileSync(DOCKERFILE, 'utf8'));
const finalStage = stages.at(-1)!;
const IMAGE_ENV = dockerEnv(finalStage);
const args = (stage: Stage, keyword: string): string[] => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const IMAGE_UID = Number(/^(\d+)/.exec(args(finalStage, 'USER').at(-1) ?? '')?.[1]);
const IMAGE_WORKDIR = args(finalStage, 'WORKDIR').at(-1) ?? '/';

// --- the Kubernetes manifests ---------------------------------------------------------

const KUSTOMIZATIONS = ['embedded', 'postgres', 'example-workload'] as const;
const kustomizations = Object.fromEntries(KUSTOMIZATIONS.map((name) => [name, loadKustomization(join(KUBERNETES, name))])) as Record<
  (typeof KUSTOMIZATIONS)[number],
  Kustomization
>;

/** Which meshca program a container runs: the image's entrypoint is `meshca`; the agent is started by name. */
function roleOf(c: Container): Role | undefined {
  if (!/^meshca(:|$)/.test(c.image)) return undefined;
  return c.command?.[0] === 'meshca-agent' ? 'agent' : 'server';
}

/** A container's environment: the image's ENV for the meshca image, overridden by the manifest's. */
function containerEnv(c: Container, k: Kustomization): Map<string, string | undefined> {
  return new Map([...(roleOf(c) ? IMAGE_ENV : []), ...environment(c, k.objects)]);
}

/** Runs a check on every container (init containers too), naming where each problem is. */
function forEachContainer(k: Kustomization, check: (c: Container, where: string, spec: PodSpec) => string[]): string[] {
  return podSpecs(k.objects).flatMap(({ owner, spec }) => allContainers(spec).flatMap((c) => check(c, `${owner.kind} ${owner.name}/${c.name}`, spec)));
}

/** The value of `--name value` or `--name=value` in an argument list. */
function flagValue(argv: readonly string[], name: string): string | undefined {
  const at = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (at < 0) return undefined;
  return argv[at]!.includes('=') ? argv[at]!.slice(argv[at]!.indexOf('=') + 1) : argv[at + 1];
}

/** Every path the meshca program in a container is given, absolute, and how: a flag in command or args wins over the variable. */
function pathsGiven(c: Container, k: Kustomization): Array<PathSetting & { given: string; path: string }> {
  const role = roleOf(c);
  if (!role) return [];
  const env = containerEnv(c, k);
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  return pathSettings(role).flatMap((s) => {
    const flag = flagValue(argv, s.setting);
    const [given, path] = flag !== undefined ? [`--${s.setting}`, flag] : [s.variable, env.get(s.variable)];
    return path === undefined ? [] : [{ ...s, given, path: posix.resolve(IMAGE_WORKDIR, path) }];
  });
}

/** What fills a volume, for messages: "Secret web-join-token", "ConfigMap a, Secret b". */
function volumeSources(v: Volume | undefined): string {
  const sources = [
    ...(v?.configMap ? [`ConfigMap ${v.configMap.name}`] : []),
    ...(v?.secret ? [`Secret ${v.secret.secretName}`] : []),
    ...(v?.projected?.sources ?? []).flatMap((s) => [...(s.configMap ? [`ConfigMap ${s.configMap.name}`] : []), ...(s.secret ? [`Secret ${s.secret.name}`] : [])]),
  ];
  return sources.join(', ') || 'nothing';
}

/** Asserts that the file a variable names is, through the volume mounted there, a key of that ConfigMap or Secret. */
function expectKeyOf(kind: FileSource['kind'], name: string, c: Container, spec: PodSpec, k: Kustomization, variable: string, key: unknown = expect.any(String)): void {
  const path = containerEnv(c, k).get(variable);
  const at = path === undefined ? undefined : volumePath(c, spec, k.objects, path);
  expect(at?.files?.get(at.inVolume), `${c.name}: ${variable}=${path} is no key of ${kind} ${name}`).toEqual({ kind, name, key });
}

/** Only the settings the program in the container reads, with values it accepts (per the real loaders). */
function envProblems(k: Kustomization): string[] {
  return forEachContainer(k, (c, where) => {
    const role = roleOf(c);
    const set = [...environment(c, k.objects).keys()].filter((n) => n.startsWith('MESHCA_'));
    if (!role) return set.map((n) => `${where}: sets ${n}, but does not run meshca`);
    const unknown = set.filter((n) => !ALLOWED[role].has(n)).map((n) => `${where}: ${n} is not read by meshca ${role}`);
    const invalid = settingProblems(role, environment(c, k.objects)).map((p) => `${where}: ${p}`);
    return [...unknown, ...invalid];
  });
}

/**
 * The root filesystem is read-only: every path meshca reads or writes must be
 * on a volume, writable where it writes (a ConfigMap or Secret volume never
 * is); and a file it reads from a ConfigMap or Secret volume must be one the
 * volume holds (meshca exits 78 on a missing file): a key, or an `items:`
 * path, at the path below the deepest mount (through its subPath).
 */
function mountProblems(k: Kustomization): string[] {
  return forEachContainer(k, (c, where, spec) =>
    pathsGiven(c, k).flatMap(({ setting, is, given, path }) => {
      const at = volumePath(c, spec, k.objects, path);
      const what = `${where}: ${given}=${path}`;
      if (!at) return [`${what} is not on a volume`];
      if (WRITTEN.has(setting)) return at.mount.readOnly || at.files ? [`${what} is on a read-only mount`] : [];
      if (is === 'file' && at.files && !at.files.has(at.inVolume)) {
        const held = [...at.files.keys()].join(', ') || 'none';
        return [`${what}: volume ${at.mount.name} (${volumeSources(at.volume)}) at ${at.mount.mountPath} has no file ${at.inVolume}; its files: ${held}`];
      }
      return [];
    }),
  );
}

const caPods = (k: Kustomization) => podSpecs(k.objects).filter(({ spec }) => spec.containers.some((c) => roleOf(c) === 'server'));
const caContainer = (spec: PodSpec) => spec.containers.find((c) => roleOf(c) === 'server')!;
const probes = (c: Container): Array<[string, Probe]> =>
  (['startupProbe', 'livenessProbe', 'readinessProbe'] as const).flatMap((p) => (c[p] ? [[p, c[p]] as [string, Probe]] : []));
/** Liveness and startup ask "alive?", readiness "can serve?": meshca and its agent answer those at /healthz and /readyz. */
const PROBE_PATH: Record<string, string> = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' };

describe('deploy/kubernetes', () => {
  const yamlFiles = filesUnder(KUBERNETES, ['.yaml', '.yml']);

  it('every YAML document parses into an object with apiVersion, kind and a name', () => {
    expect(yamlFiles.length).toBeGreaterThan(0);
    const problems = yamlFiles.flatMap((f) => {
      const parsed = parseManifestFile(f);
      const shape = parsed.documents.flatMap((d) =>
        d.body.apiVersion && d.kind && (d.name || d.kind === 'Kustomization') ? [] : [`${rel(f)}: a document lacks apiVersion, kind or metadata.name`],
      );
      return [...parsed.errors, ...shape, ...(parsed.documents.length ? [] : [`${rel(f)}: no document`])];
    });
    expect(problems).toEqual([]);
  });

  it('every file a kustomization lists exists, every field it uses is one these tests read, and every manifest is in one of the three', () => {
    const all = yamlFiles.filter((f) => basename(f) === 'kustomization.yaml').map((f) => loadKustomization(dirname(f)));
    expect(all.flatMap((k) => [...k.missing, ...k.unread])).toEqual([]);
    const listed = new Set(Object.values(kustomizations).flatMap((k) => [...k.files, ...k.dirs.map((d) => join(d, 'kustomization.yaml'))]));
    expect(yamlFiles.filter((f) => !listed.has(f)).map(rel)).toEqual([]);
  });

  describe.each(KUSTOMIZATIONS)('%s', (name) => {
    const k = kustomizations[name];

    it('defines every ConfigMap, Secret, claim, ServiceAccount, Service and volume its pods refer to', () => {
      expect(k.objects.length).toBeGreaterThan(0);
      expect(referenceProblems(k)).toEqual([]);
    });

    it('selects existing pods and ports from its Services, PodDisruptionBudgets and NetworkPolicies', () => {
      expect(selectorProblems(k)).toEqual([]);
    });

    it('sets only MESHCA_* variables the program in that container reads, with values meshca accepts', () => {
      expect(envProblems(k)).toEqual([]);
    });

    it('puts every path meshca uses on a volume, writable where meshca writes, and every file it reads from a ConfigMap or Secret in it', () => {
      expect(mountProblems(k)).toEqual([]);
    });

    it('runs every container as non-root, without privileges, capabilities or a writable root filesystem', () => {
      expect(securityProblems(k)).toEqual([]);
    });

    it('probes /healthz for liveness and /readyz for readiness', () => {
      const wrong = podSpecs(k.objects).flatMap(({ spec }) =>
        allContainers(spec).flatMap((c) => probes(c).flatMap(([kind, p]) => (p.httpGet && p.httpGet.path !== PROBE_PATH[kind] ? [`${c.name} ${kind}: ${p.httpGet.path}`] : []))),
      );
      expect(wrong).toEqual([]);
    });
  });

  describe.each(['embedded', 'postgres'] as const)('the CA (%s)', (name) => {
    const k = kustomizations[name];
    const [pod] = caPods(k);

    it('listens on the port the Service, the container port and the HTTPS probes use, on every interface of the pod', () => {
      expect(caPods(k)).toHaveLength(1);
      const c = caContainer(pod!.spec);
      expect(c.args).toEqual(['server']);
      const listen = parseListenAddress(containerEnv(c, k).get('MESHCA_LISTEN')!);
      expect(listen.port).toBe(LISTEN_PORT);
      expect(portNumber('https', [c])).toBe(listen.port);
      const service = find(k.objects, 'Service', 'meshca')!;
      expect(service.body.spec.ports.map((p: { port: number; targetPort: string }) => [p.port, portNumber(p.targetPort, [c])])).toEqual([[listen.port, listen.port]]);
      expect(probes(c).map(([kind, p]) => [kind, p.httpGet?.scheme, portNumber(p.httpGet!.port, [c])])).toEqual([
        ['startupProbe', 'HTTPS', listen.port],
        ['livenessProbe', 'HTTPS', listen.port],
        ['readinessProbe', 'HTTPS', listen.port],
      ]);
      expect(['0.0.0.0', '::']).toContain(listen.host);
      const metrics = containerEnv(c, k).get('MESHCA_METRICS_LISTEN');
      if (metrics) expect(portNumber('metrics', [c])).toBe(parseListenAddress(metrics).port);
    });

    // Below it, the scheduler places the CA where its memory is not there, and under memory pressure the
    // kubelet evicts first the pods that use more than they requested (a PodDisruptionBudget does not stop it).
    it('requests the memory the README measured under full load, within its limit', () => {
      const { requests, limits } = caContainer(pod!.spec).resources ?? {};
      expect(quantityBytes(requests?.memory)).toBeGreaterThanOrEqual(CA_FULL_LOAD_BYTES);
      expect(quantityBytes(limits?.memory)).toBeGreaterThanOrEqual(quantityBytes(requests?.memory));
    });

    // Nothing listens until the datastore is open and migrated, each migration in a transaction: a startup
    // probe that gives up first kills the migration, which rolls back, and so again at every start.
    it('gives its start as long as a schema migration may take', () => {
      const startup = caContainer(pod!.spec).startupProbe;
      expect((startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3)).toBeGreaterThanOrEqual(MIGRATION_BUDGET_S);
    });

    // A probe that times out first calls a CA whose datastore answers in 1-2 s unready, and the pool
    // busy under load is such a datastore: every replica would leave the Service at the busiest moment.
    it('waits on /readyz for longer than /readyz waits on the datastore', () => {
      expect(caContainer(pod!.spec).readinessProbe?.timeoutSeconds ?? 1).toBeGreaterThan(READYZ_DATASTORE_WAIT_S);
    });

    // Liveness restarts the CA, dropping every agent's connection; readiness only takes it out of the Service.
    // An overloaded CA answers late, so the probe that restarts it must never give up sooner than the one that sheds load.
    it('gives up on /healthz (a restart) no sooner than on /readyz (out of the Service)', () => {
      const { livenessProbe: live, readinessProbe: ready } = caContainer(pod!.spec);
      expect(live?.timeoutSeconds ?? 1).toBeGreaterThanOrEqual(ready?.timeoutSeconds ?? 1);
      expect((live?.periodSeconds ?? 10) * (live?.failureThreshold ?? 3)).toBeGreaterThanOrEqual((ready?.periodSeconds ?? 10) * (ready?.failureThreshold ?? 3));
    });

    // An agent renews its own SVID at about half its life; one that expires while the CA is away needs a new
    // join token, put in each pod's Secret by hand (README: --agent-svid-ttl, "the longest CA outage an agent rides out").
    it('gives agents SVIDs of their own as long as the CA allows, so that an outage costs no new join tokens', () => {
      const env = containerEnv(caContainer(pod!.spec), k);
      expect(env.get('MESHCA_AGENT_SVID_TTL')).toBe(env.get('MESHCA_SVID_MAX_TTL'));
    });

    it('reads the key passphrase from a key of a mounted Secret and runs as the image user', () => {
      const c = caContainer(pod!.spec);
      expectKeyOf('Secret', 'meshca-key-passphrase', c, pod!.spec, k, 'MESHCA_KEY_PASSPHRASE_FILE');
      expect(pod!.spec.securityContext?.runAsUser).toBe(IMAGE_UID);
    });
  });

  it('runs the embedded CA as one replica with its data directory on a claim', () => {
    const k = kustomizations.embedded;
    const { owner, spec } = caPods(k)[0]!;
    expect([owner.kind, owner.body.spec.replicas]).toEqual(['StatefulSet', 1]);
    const dataDir = containerEnv(caContainer(spec), k).get('MESHCA_DATA_DIR');
    const mount = caContainer(spec).volumeMounts!.find((m) => m.mountPath === dataDir);
    expect(owner.body.spec.volumeClaimTemplates.map((t: { metadata: { name: string } }) => t.metadata.name)).toContain(mount?.name);
  });

  it('runs the PostgreSQL CA as 2+ replicas with the datastore URL in a file from a Secret and no claim', () => {
    const k = kustomizations.postgres;
    const { owner, spec } = caPods(k)[0]!;
    expect(owner.kind).toBe('Deployment');
    expect(owner.body.spec.replicas).toBeGreaterThanOrEqual(2);
    const c = caContainer(spec);
    // Not in the environment, where the password would be in /proc/PID/environ and `kubectl describe`.
    expect(c.env?.find((e) => e.name === 'MESHCA_DATASTORE')).toBeUndefined();
    expectKeyOf('Secret', 'meshca-datastore', c, spec, k, 'MESHCA_DATASTORE_FILE', 'url');
    expect(spec.volumes?.filter((v) => v.persistentVolumeClaim) ?? []).toEqual([]);
    expect(k.objects.filter((o) => o.kind === 'PersistentVolumeClaim' || o.kind === 'StatefulSet')).toEqual([]);
    expect(k.objects.some((o) => o.kind === 'PodDisruptionBudget' && o.body.spec.minAvailable >= 1)).toBe(true);
  });

  it("keeps the PostgreSQL CA's data directory on a tmpfs emptyDir, which Kubernetes makes sticky (1777): the CA refuses a disk emptyDir's 0777", () => {
    const k = kustomizations.postgres;
    const { spec } = caPods(k)[0]!;
    const dataDir = containerEnv(caContainer(spec), k).get('MESHCA_DATA_DIR');
    const mount = caContainer(spec).volumeMounts!.find((m) => m.mountPath === dataDir);
    expect(spec.volumes?.find((v) => v.name === mount?.name)?.emptyDir?.medium).toBe('Memory');
  });

  describe('the example workload', () => {
    const k = kustomizations['example-workload'];
    const { spec } = podSpecs(k.objects)[0]!;
    const agents = allContainers(spec).filter((c) => roleOf(c) === 'agent');
    const sidecar = spec.containers.find((c) => roleOf(c) === 'agent')!;
    const env = containerEnv(sidecar, k);

    it('reaches the CA by a name and port its serving certificate is issued for', () => {
      const caEnv = environment(caContainer(caPods(kustomizations.embedded)[0]!.spec), kustomizations.embedded.objects);
      const caListen = parseListenAddress(caEnv.get('MESHCA_LISTEN')!);
      const server = new URL(env.get('MESHCA_AGENT_SERVER')!);
      expect(Number(server.port)).toBe(caListen.port);
      expect(caEnv.get('MESHCA_SERVING_NAMES')!.split(',')).toContain(server.hostname);
    });

    it('installs the first SVID in an init container, with the same settings as the sidecar', () => {
      const init = spec.initContainers?.find((c) => roleOf(c) === 'agent');
      expect(init?.command).toEqual(['meshca-agent', '--once']);
      expect(init?.envFrom).toEqual(sidecar.envFrom);
      for (const c of agents) for (const name of ['MESHCA_AGENT_SERVER', 'MESHCA_AGENT_TRUST_BUNDLE', 'MESHCA_AGENT_OUT']) expect(containerEnv(c, k).get(name), name).toBeTruthy();
    });

    it.each([
      ['MESHCA_AGENT_TRUST_BUNDLE', 'ConfigMap', 'meshca-trust-bundle'],
      ['MESHCA_AGENT_JOIN_TOKEN_FILE', 'Secret', 'web-join-token'],
    ] as const)('reads %s, in the init container and the sidecar, from a key of %s %s', (variable, kind, name) => {
      for (const c of agents) expectKeyOf(kind, name, c, spec, k, variable);
    });

    it('publishes into an in-memory volume that the proxy mounts, and can signal the proxy by its pid file', () => {
      const volumeAt = (c: Container, path: string) => c.volumeMounts?.find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))?.name;
      const others = spec.containers.filter((c) => c !== sidecar);
      const out = volumeAt(sidecar, env.get('MESHCA_AGENT_OUT')!);
      expect(spec.volumes?.find((v) => v.name === out)?.emptyDir?.medium).toBe('Memory');
      expect(others.some((c) => c.volumeMounts?.some((m) => m.name === out))).toBe(true);
      // The PID in the file means something to the agent only in one shared process namespace.
      const pidVolume = volumeAt(sidecar, env.get('MESHCA_AGENT_PID_FILE')!);
      expect(spec.shareProcessNamespace).toBe(true);
      expect(others.some((c) => c.volumeMounts?.some((m) => m.name === pidVolume && !m.readOnly))).toBe(true);
    });

    // Kubernetes' default timeout is 1 s: every new CRL of that size would fail a probe of a healthy agent,
    // and on a busy node, where 20m of CPU stretches the pause, three in a row restart it, and a restarted agent reads the CRL it holds once more.
    it('gives the agent probes a timeout longer than the longest pause the README measures for it', () => {
      expect(probes(sidecar).map(([kind, p]) => [kind, (p.timeoutSeconds ?? 1) > AGENT_LONGEST_PAUSE_S])).toEqual([
        ['livenessProbe', true],
        ['readinessProbe', true],
      ]);
    });

    it('probes the agent over plain HTTP on its health listener, reachable from the kubelet', () => {
      const health = parseListenAddress(env.get('MESHCA_AGENT_HEALTH_LISTEN')!);
      expect(health.host).toBe('0.0.0.0');
      expect(probes(sidecar).map(([kind, p]) => [kind, p.httpGet?.scheme ?? 'HTTP', portNumber(p.httpGet!.port, [sidecar])])).toEqual([
        ['livenessProbe', 'HTTP', health.port],
        ['readinessProbe', 'HTTP', health.port],
      ]);
    });
  });

  // Reported as skipped, never as passed, on a machine without kubectl; and announced (available, above).
  it.skipIf(!HAS_KUBECTL)('builds with kubectl kustomize', () => {
    for (const name of KUSTOMIZATIONS) {
      const r = spawnSync('kubectl', ['kustomize', join(KUBERNETES, name)], { encoding: 'utf8' });
      expect({ name, status: r.status, stderr: r.stderr.trim() }).toEqual({ name, status: 0, stderr: '' });
    }
  });
});

describe('deploy/container/Dockerfile', () => {
  const build = stages[0]!;
  const runs = (stage: Stage) => args(stage, 'RUN').join('\n');

  it('builds in node:20-bookworm and prunes dev dependencies there', () => {
    expect(stages.map((s) => s.from)).toEqual(['node:20-bookworm', 'node:20-bookworm-slim']);
    expect(runs(build)).toMatch(/\bnpm ci\b/);
    expect(runs(build)).toMatch(/\bnpm prune --omit=dev\b/);
  });

  it('has no compilers or package installs in the final stage, and copies only dist/, node_modules/ and package.json', () => {
    expect(runs(finalStage)).not.toMatch(/\b(apt-get|apt|apk|npm|gcc|g\+\+|cc|make|python3?|build-essential|node-gyp)\b/);
    const copies = args(finalStage, 'COPY').concat(args(finalStage, 'ADD'));
    expect(copies.every((c) => c.startsWith(`--from=${build.name} `))).toBe(true);
    expect(copies.map((c) => basename(c.split(/\s+/)[1]!)).sort()).toEqual(['dist', 'node_modules', 'package.json']);
  });

  it('runs as a numeric non-root user', () => {
    expect(args(finalStage, 'USER').at(-1)).toMatch(/^\d+(:\d+)?$/);
    expect(IMAGE_UID).toBeGreaterThan(0);
  });

  it('agrees with the code: listen port, data directory volume, MESHCA_* names, and both bins on PATH', () => {
    expect(args(finalStage, 'WORKDIR').at(-1)).toBe('/opt/meshca');
    expect(args(finalStage, 'ENTRYPOINT').at(-1)).toBe('["meshca"]');
    expect(args(finalStage, 'CMD').at(-1)).toBe('["server"]');
    const listen = parseListenAddress(IMAGE_ENV.get('MESHCA_LISTEN')!);
    expect(listen).toEqual({ host: '0.0.0.0', port: LISTEN_PORT });
    expect(args(finalStage, 'EXPOSE').flatMap((a) => a.split(/\s+/))).toContain(String(listen.port));
    expect(args(finalStage, 'VOLUME')).toContain(IMAGE_ENV.get('MESHCA_DATA_DIR'));
    expect([...IMAGE_ENV.keys()].filter((n) => n.startsWith('MESHCA_') && !ALLOWED.server.has(n))).toEqual([]);
    for (const [bin, path] of Object.entries(pkg.bin)) expect(runs(finalStage)).toContain(`ln -s /opt/meshca/${path} /usr/local/bin/${bin}`);
  });
});

describe('deploy/systemd', () => {
  const SYSTEMD = join(DEPLOY, 'systemd');
  const unitFiles = filesUnder(SYSTEMD, ['.service', '.path']);
  const units = new Map<string, Unit>(unitFiles.map((f) => [basename(f), parseUnit(readFileSync(f, 'utf8'))]));
  const meshcaUnits: Array<[string, Role]> = [
    ['meshca.service', 'server'],
    ['meshca-agent.service', 'agent'],
  ];
  const service = (name: string) => units.get(name)!;
  const one = (unit: Unit, key: string) => directive(unit, 'Service', key).at(-1);

  // Reported as skipped, never as passed, without systemd-analyze (.ci/run installs it: apt-get install -y systemd); and announced (available, above).
  it.skipIf(!HAS_SYSTEMD_ANALYZE)('passes systemd-analyze verify, without a warning', () => {
    expect(unitFiles.length).toBeGreaterThan(0);
    for (const f of unitFiles) {
      // It exits 0 on "Unknown key" or "Invalid syntax, ignoring": any output is a failure.
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', f], { encoding: 'utf8' });
      expect({ unit: rel(f), status: r.status, output: `${r.stdout}${r.stderr}`.trim() }).toEqual({ unit: rel(f), status: 0, output: '' });
    }
  });

  // The exposure systemd-analyze security gives: 9.6 "UNSAFE" for a unit left as root with everything; "OK" is below 2.
  it.skipIf(!HAS_SYSTEMD_ANALYZE).each(unitFiles.filter((f) => f.endsWith('.service')).map((f) => basename(f)))('%s is sandboxed as systemd-analyze security measures it: exposure under 2.0', (name) => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(SYSTEMD, name)], { encoding: 'utf8' });
    const exposure = Number(/Overall exposure level for \S+: (\d+\.\d)/.exec(r.stdout)?.[1]);
    expect({ exposure: exposure < 2, output: exposure < 2 ? '' : r.stdout }).toEqual({ exposure: true, output: '' });
  });

  it('meshca-agent-reload.service runs systemctl as root with CAP_SYS_ADMIN alone, which systemd asks of a root caller, and nothing it could write or reach but AF_UNIX sockets', () => {
    const u = service('meshca-agent-reload.service');
    expect(directive(u, 'Service', 'ExecStart')).toEqual(['/usr/bin/systemctl try-reload-or-restart nginx.service']);
    expect([one(u, 'User'), one(u, 'DynamicUser')]).toEqual([undefined, undefined]);
    const sandbox = {
      CapabilityBoundingSet: 'CAP_SYS_ADMIN', AmbientCapabilities: '', NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
      PrivateDevices: 'yes', PrivateNetwork: 'yes', RestrictAddressFamilies: 'AF_UNIX', RestrictNamespaces: 'yes', SystemCallArchitectures: 'native',
    };
    expect(Object.fromEntries(Object.keys(sandbox).map((key) => [key, one(u, key)]))).toEqual(sandbox);
    // Without CAP_SYS_PTRACE, systemctl cannot read /proc/1/root to tell whether it runs in a chroot, where it would do nothing.
    expect(unitEnvironment(u).get('SYSTEMD_IGNORE_CHROOT')).toBe('1');
    expect(directive(u, 'Service', 'SystemCallFilter')).toEqual(['@system-service', '~@privileged @resources @mount']);
  });

  it.each(meshcaUnits)('%s starts the packaged bin with node as an unprivileged, sandboxed simple service', (name, role) => {
    const u = service(name);
    const bin = pkg.bin[role === 'server' ? 'meshca' : 'meshca-agent'];
    expect(one(u, 'ExecStart')).toBe(`/usr/bin/node /opt/meshca/${bin}${role === 'server' ? ' server' : ''}`);
    expect(one(u, 'Type')).toBe('simple');
    // Its own system user, declared for systemd-sysusers (or a DynamicUser=).
    const declared = [...readFileSync(join(SYSTEMD, 'meshca.sysusers.conf'), 'utf8').matchAll(/^u\s+(\S+)/gm)].map((m) => m[1]);
    if (one(u, 'DynamicUser') !== 'yes') expect(declared).toContain(one(u, 'User'));
    expect(one(u, 'Restart')).toBe('on-failure');
    // PrivateMounts and ProcSubset=pid too: the CA and the agent, run under a /proc mounted subset=pid, read
    // only /proc/self (descriptors, limits, status) and take the core count from sched_getaffinity.
    const sandbox = { NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateMounts: 'yes', ProcSubset: 'pid', CapabilityBoundingSet: '', RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6' };
    for (const [key, value] of Object.entries(sandbox)) {
      expect(one(u, key), key).toBe(value);
    }
    expect(directive(u, 'Service', 'AmbientCapabilities').filter(Boolean)).toEqual([]);
    expect(directive(u, 'Service', 'SystemCallFilter')).toContain('@system-service');
    // ProtectSystem=strict: writable only what the unit owns.
    const own = [...directive(u, 'Service', 'StateDirectory').map((d) => `/var/lib/${d}`), ...directive(u, 'Service', 'RuntimeDirectory').map((d) => `/run/${d}`)];
    const rw = directive(u, 'Service', 'ReadWritePaths').flatMap((v) => v.split(/\s+/));
    expect(rw.filter((p) => !own.some((o) => p === o || p.startsWith(`${o}/`)))).toEqual([]);
  });

  it.each(unitFiles.map((f) => basename(f)))('%s reads from its credentials directory only credentials it loads or sets itself', (name) => {
    expect(credentialProblems(units.get(name)!)).toEqual([]);
  });

  // Root-only files reach the unprivileged service as credentials: a private copy in %d, read-only.
  it.each([
    ['meshca.service', 'MESHCA_KEY_PASSPHRASE_FILE'],
    ['meshca-agent.service', 'MESHCA_AGENT_JOIN_TOKEN_FILE'],
  ])('%s sets %s to a credential it loads', (name, variable) => {
    const u = service(name);
    const [, id] = /^%d\/([^/]+)$/.exec(unitEnvironment(u).get(variable) ?? '') ?? [];
    expect(directive(u, 'Service', 'LoadCredential').map((v) => v.split(':')[0])).toContain(id);
  });

  it('keeps the CA data in its StateDirectory', () => {
    const u = service('meshca.service');
    expect(unitEnvironment(u).get('MESHCA_DATA_DIR')).toBe(`/var/lib/${one(u, 'StateDirectory')}`);
  });

  it('publishes the agent SVID in its RuntimeDirectory, kept across restarts, where the reload path unit watches', () => {
    const u = service('meshca-agent.service');
    const env = unitEnvironment(u);
    expect(env.get('MESHCA_AGENT_OUT')).toBe(`/run/${one(u, 'RuntimeDirectory')}`);
    expect(one(u, 'RuntimeDirectoryPreserve')).toBe('yes');
    expect(env.get('MESHCA_AGENT_STATE_DIR')).toBe(`/var/lib/${one(u, 'StateDirectory')}`);
    const path = units.get('meshca-agent-reload.path')!;
    expect(directive(path, 'Path', 'PathChanged')).toEqual([env.get('MESHCA_AGENT_OUT')]);
    expect(units.has(directive(path, 'Path', 'Unit')[0]!)).toBe(true);
  });

  // A host name in MESHCA_LISTEN would bind only the address it resolves to (on many hosts 127.0.1.1, from /etc/hosts).
  it('the example CA listens on every interface, with the name and port the example agent dials in its serving certificate', () => {
    const settings = (file: string) => envFile(readFileSync(join(SYSTEMD, file), 'utf8'));
    const ca = settings('meshca.env');
    const listen = parseListenAddress(ca.get('MESHCA_LISTEN')!);
    expect(['0.0.0.0', '::']).toContain(listen.host);
    const server = new URL(settings('meshca-agent.env').get('MESHCA_AGENT_SERVER')!);
    expect(Number(server.port)).toBe(listen.port);
    expect(ca.get('MESHCA_SERVING_NAMES')?.split(',')).toContain(server.hostname);
  });

  // Unlike a pod, a host is shared: the scraper of a loopback /metrics runs on it, and a port taken fails the start (EADDRINUSE).
  it('the example settings listen on no port that Prometheus, its usual companions or Cockpit take on a host', () => {
    const TAKEN: Record<number, string> = { 9090: 'Prometheus, Cockpit', 9091: 'Pushgateway', 9093: 'Alertmanager', 9094: 'Alertmanager cluster', 9100: 'node_exporter' };
    const settings = [...envFile(readFileSync(join(SYSTEMD, 'meshca.env'), 'utf8')), ...envFile(readFileSync(join(SYSTEMD, 'meshca-agent.env'), 'utf8'))];
    const listens = settings.filter(([name]) => /_LISTEN$/.test(name)).map(([name, value]) => [name, parseListenAddress(value!).port] as const);
    expect(listens.map(([name]) => name).sort()).toEqual(['MESHCA_AGENT_HEALTH_LISTEN', 'MESHCA_LISTEN', 'MESHCA_METRICS_LISTEN']);
    expect(listens.filter(([, port]) => TAKEN[port]).map(([name, port]) => `${name}: ${port} (${TAKEN[port]})`)).toEqual([]);
  });

  it('the example CA gives agents SVIDs of their own as long as it allows, so that an outage costs no new join tokens', () => {
    const ca = envFile(readFileSync(join(SYSTEMD, 'meshca.env'), 'utf8'));
    expect(ca.get('MESHCA_AGENT_SVID_TTL')).toBe(ca.get('MESHCA_SVID_MAX_TTL'));
  });

  it.each(meshcaUnits)('%s and its example EnvironmentFile set only variables meshca reads, with values it accepts', (name, role) => {
    const u = service(name);
    const files = directive(u, 'Service', 'EnvironmentFile').map((f) => join(SYSTEMD, basename(f.replace(/^-/, ''))));
    expect(files.length).toBe(1);
    expect(files.filter((f) => !existsSync(f)).map(rel)).toEqual([]);
    const fromFile = envFile(readFileSync(files[0]!, 'utf8'));
    // An EnvironmentFile overrides Environment=: the unit's own paths must not be set there too.
    expect([...fromFile.keys()].filter((n) => unitEnvironment(u).has(n))).toEqual([]);
    const env = new Map([...fromFile, ...unitEnvironment(u)]);
    expect([...env.keys()].filter((n) => !ALLOWED[role].has(n))).toEqual([]);
    expect(settingProblems(role, env)).toEqual([]);
  });
});

/**
 * A secret meshca reads as a value: the key passphrase, a join token, a
 * datastore URL with a password. Anywhere but in a file (a Secret volume, a
 * systemd credential) it is in /proc/PID/environ, `kubectl describe`, `docker
 * inspect` or a ConfigMap anyone in the namespace may read.
 */
function secretValue(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  if (['MESHCA_KEY_PASSPHRASE', AGENT_SECRET_VARIABLES].flat().includes(name)) return true;
  return name === 'MESHCA_DATASTORE' && /^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(value);
}

describe('secrets in deploy/', () => {
  it('are never a value in a ConfigMap, a container environment, the image or a systemd unit or env file: only files', () => {
    const where: string[] = [];
    for (const [name, k] of Object.entries(kustomizations)) {
      for (const cm of k.objects.filter((o) => o.kind === 'ConfigMap')) {
        for (const [key, value] of Object.entries<string>(cm.body.data ?? {})) if (secretValue(key, value)) where.push(`${name}: ConfigMap ${cm.name} ${key}`);
      }
      where.push(...forEachContainer(k, (c, at) => [...environment(c, k.objects)].filter(([n, v]) => secretValue(n, v)).map(([n]) => `${name}: ${at} ${n}`)));
    }
    where.push(...[...IMAGE_ENV].filter(([n, v]) => secretValue(n, v)).map(([n]) => `Dockerfile ENV ${n}`));
    const SYSTEMD = join(DEPLOY, 'systemd');
    for (const f of filesUnder(SYSTEMD, ['.service', '.env'])) {
      const text = readFileSync(f, 'utf8');
      const env = f.endsWith('.env') ? envFile(text) : unitEnvironment(parseUnit(text));
      where.push(...[...env].filter(([n, v]) => secretValue(n, v)).map(([n]) => `${rel(f)} ${n}`));
    }
    expect(where).toEqual([]);
  });

  it('tells a secret value from a path, or from a datastore URL without a password', () => {
    expect({
      passphrase: secretValue('MESHCA_KEY_PASSPHRASE', 'hunter2'),
      token: secretValue('MESHCA_AGENT_JOIN_TOKEN', 'mcjt_x'),
      urlWithPassword: secretValue('MESHCA_DATASTORE', 'postgres://meshca:pw@db:5432/meshca'),
      urlWithout: secretValue('MESHCA_DATASTORE', 'postgres://meshca@db:5432/meshca'),
      passphraseFile: secretValue('MESHCA_KEY_PASSPHRASE_FILE', '/etc/meshca/passphrase'),
    }).toEqual({ passphrase: true, token: true, urlWithPassword: true, urlWithout: false, passphraseFile: false });
  });
});

// The readers above, on the shapes deploy/ may grow into: each case would pass unnoticed if they mis-resolved it.
describe('test/support/deploy-files', () => {
  const manifest = (kind: string, name: string, body: Record<string, unknown>): Manifest => ({ file: '', kind, name, body: { kind, metadata: { name }, ...body } });
  const objects = [
    manifest('ConfigMap', 'bundle', { data: { 'bundle.pem': 'PEM' } }),
    manifest('Secret', 'token', { stringData: { token: 't', other: 'o' } }),
  ];
  const secret: Volume = { name: 's', secret: { secretName: 'token' } };
  const config: Volume = { name: 'c', configMap: { name: 'bundle' } };
  const mount = (name: string, mountPath: string, subPath?: string): VolumeMount => ({ name, mountPath, ...(subPath ? { subPath } : {}) });
  const cases: Array<{ case: string; volumes: Volume[]; mounts: VolumeMount[]; path: string; from: FileSource | undefined }> = [
    { case: 'a key of a Secret, as the file of its name', volumes: [secret], mounts: [mount('s', '/etc/t')], path: '/etc/t/token', from: { kind: 'Secret', name: 'token', key: 'token' } },
    { case: 'a name that is no key', volumes: [secret], mounts: [mount('s', '/etc/t')], path: '/etc/t/tokenfoo', from: undefined },
    { case: 'the mount itself, a directory', volumes: [secret], mounts: [mount('s', '/etc/t')], path: '/etc/t', from: undefined },
    { case: 'a key at its items: path', volumes: [{ name: 's', secret: { secretName: 'token', items: [{ key: 'token', path: 'join/t' }] } }], mounts: [mount('s', '/etc/t')], path: '/etc/t/join/t', from: { kind: 'Secret', name: 'token', key: 'token' } },
    { case: 'a key not listed in items:', volumes: [{ name: 's', secret: { secretName: 'token', items: [{ key: 'token', path: 't' }] } }], mounts: [mount('s', '/etc/t')], path: '/etc/t/other', from: undefined },
    { case: 'a key mounted alone by subPath', volumes: [config], mounts: [mount('c', '/etc/ssl/ca.pem', 'bundle.pem')], path: '/etc/ssl/ca.pem', from: { kind: 'ConfigMap', name: 'bundle', key: 'bundle.pem' } },
    { case: 'a key of a projected volume', volumes: [{ name: 'p', projected: { sources: [{ secret: { name: 'token' } }, { configMap: { name: 'bundle' } }] } }], mounts: [mount('p', '/etc/meshca')], path: '/etc/meshca/bundle.pem', from: { kind: 'ConfigMap', name: 'bundle', key: 'bundle.pem' } },
    { case: 'a key of the deeper of two mounts', volumes: [config, secret], mounts: [mount('c', '/etc'), mount('s', '/etc/t')], path: '/etc/t/token', from: { kind: 'Secret', name: 'token', key: 'token' } },
    { case: 'a file of an emptyDir, written at run time', volumes: [{ name: 'e', emptyDir: {} }], mounts: [mount('e', '/run/x')], path: '/run/x/token', from: undefined },
  ];

  it.each(cases)('volumePath: $case', ({ volumes, mounts, path, from }) => {
    const c: Container = { name: 'c', image: 'meshca', volumeMounts: mounts };
    const at = volumePath(c, { containers: [c], volumes }, objects, path)!;
    expect(at.files?.get(at.inVolume)).toEqual(from);
  });

  it('volumePath: a volume filled at run time holds no files to check', () => {
    const c: Container = { name: 'c', image: 'meshca', volumeMounts: [mount('e', '/run/x')] };
    expect(volumePath(c, { containers: [c], volumes: [{ name: 'e', emptyDir: {} }] }, objects, '/run/x/a')?.files).toBeUndefined();
    expect(volumePath(c, { containers: [c], volumes: [] }, objects, '/elsewhere/a')).toBeUndefined();
  });

  it.each([
    { given: 'LoadCredential=pw:/etc/pw', reads: 'Environment=F=%d/pw', undefined: [] },
    { given: 'LoadCredential=pw:/etc/pw', reads: 'Environment=F=%d/pwfoo', undefined: ['pwfoo'] },
    { given: 'LoadCredentialEncrypted=pw', reads: 'Environment=F=%d/pw', undefined: [] },
    { given: 'SetCredential=pw:\\n', reads: 'Environment=F=%d/pw', undefined: [] },
    { given: 'ImportCredential=tls.*', reads: 'ExecStart=/bin/x --key ${CREDENTIALS_DIRECTORY}/tls.key', undefined: [] },
    { given: 'LoadCredential=pw:/etc/pw', reads: 'ExecStart=/bin/x $CREDENTIALS_DIRECTORY/pw $CREDENTIALS_DIRECTORY/other', undefined: ['other'] },
    { given: 'LoadCredential=pw:/etc/pw', reads: 'Environment=F=%%d/other', undefined: [] }, // %% is a literal %
  ])('undefinedCredentials: $given, $reads → $undefined', ({ given, reads, undefined: ids }) => {
    const unit = parseUnit(`[Service]\n${given}\n${reads}\n`);
    expect(credentialIds(unit).length).toBe(1);
    expect(undefinedCredentials(unit).map((r) => r.id)).toEqual(ids);
  });
});
