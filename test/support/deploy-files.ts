/**
 * Reading what is under deploy/ the way its consumers do: Kubernetes YAML
 * through the kustomizations that list it, the Dockerfile as stages of
 * instructions, systemd units as sections of (repeatable) directives; plus
 * the Kubernetes checks that hold for any manifest, not only meshca's. Only as
 * much of each format as the checks in test/deploy/ need.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO = resolve(import.meta.dirname, '../..');
export const DEPLOY = join(REPO, 'deploy');
export const KUBERNETES = join(DEPLOY, 'kubernetes');

export const rel = (path: string): string => relative(REPO, path);

export function filesUnder(dir: string, ends: readonly string[]): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => ends.some((e) => f.endsWith(e)) && statSync(f).isFile())
    .sort();
}

// --- Kubernetes ------------------------------------------------------------

export interface KeyRef { readonly name: string; readonly key: string }
export interface EnvVar { readonly name: string; readonly value?: string; readonly valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef } }
export interface Probe {
  readonly httpGet?: { path: string; port: number | string; scheme?: string };
  readonly tcpSocket?: { port: number | string };
  /** Kubernetes' defaults when absent: 1 s, 10 s and 3. */
  readonly timeoutSeconds?: number;
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
}
export interface SecurityContext {
  readonly runAsNonRoot?: boolean;
  readonly runAsUser?: number;
  readonly privileged?: boolean;
  readonly allowPrivilegeEscalation?: boolean;
  readonly readOnlyRootFilesystem?: boolean;
  readonly capabilities?: { drop?: string[]; add?: string[] };
  readonly seccompProfile?: { type: string };
}
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: EnvVar[];
  readonly envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  readonly ports?: Array<{ name?: string; containerPort: number }>;
  readonly volumeMounts?: VolumeMount[];
  readonly securityContext?: SecurityContext;
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
export interface VolumeMount { readonly name: string; readonly mountPath: string; readonly readOnly?: boolean; readonly subPath?: string }
/** A key of a ConfigMap or Secret volume, as the file `path` (which may have directories) instead of a file named after the key. */
export interface KeyToPath { readonly key: string; readonly path: string }
export interface ProjectedSource {
  readonly configMap?: { name: string; items?: KeyToPath[] };
  readonly secret?: { name: string; items?: KeyToPath[] };
  readonly downwardAPI?: { items: Array<{ path: string }> };
  readonly serviceAccountToken?: { path: string };
}
export interface Volume {
  readonly name: string;
  readonly configMap?: { name: string; items?: KeyToPath[] };
  readonly secret?: { secretName: string; items?: KeyToPath[] };
  readonly projected?: { sources: ProjectedSource[] };
  readonly persistentVolumeClaim?: { claimName: string };
  readonly emptyDir?: { medium?: string };
}
export interface PodSpec {
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly volumes?: Volume[];
  readonly serviceAccountName?: string;
  readonly automountServiceAccountToken?: boolean;
  readonly shareProcessNamespace?: boolean;
  readonly hostAliases?: Array<{ ip: string; hostnames: string[] }>;
  readonly securityContext?: SecurityContext;
}

/** One YAML document of a manifest file; `body` is the document as parsed. */
export interface Manifest {
  readonly file: string;
  readonly kind: string;
  readonly name: string;
  /** Any Kubernetes object: read field by field where the checks need it. */
  readonly body: Readonly<Record<string, any>>;
}

export interface ParsedFile { readonly file: string; readonly documents: Manifest[]; readonly errors: string[] }

export function parseManifestFile(file: string): ParsedFile {
  const errors: string[] = [];
  const documents: Manifest[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    errors.push(...[...doc.errors, ...doc.warnings].map((e) => `${rel(file)}: ${e.message}`));
    const body: unknown = doc.toJS();
    if (body === null || body === undefined) continue; // an empty document, e.g. after a trailing ---
    if (typeof body !== 'object' || Array.isArray(body)) {
      errors.push(`${rel(file)}: a document is not a mapping`);
      continue;
    }
    const b = body as Record<string, any>;
    documents.push({ file, kind: String(b.kind ?? ''), name: String(b.metadata?.name ?? ''), body: b });
  }
  return { file, documents, errors };
}

/** A kustomization with everything it includes, bases resolved. */
export interface Kustomization {
  readonly dir: string;
  /** It and every base it includes. */
  readonly dirs: string[];
  /** Files (not directories) it and its bases list, each once. */
  readonly files: string[];
  /** Listed entries that do not exist, or directories without a kustomization.yaml. */
  readonly missing: string[];
  /**
   * Fields of a kustomization.yaml this loader does not apply (generators,
   * replacements, ...): the objects they make or change would be invisible
   * to every check, so each is reported instead of ignored.
   */
  readonly unread: string[];
  readonly objects: Manifest[];
}

const LISTS = ['resources', 'components', 'crds'] as const;
/**
 * Fields that make no object and change no name or key the checks compare; `images` is checked by the tests themselves.
 * Not `patches` or `patchesStrategicMerge`: the tests read the files as written, so a patch could change what they checked
 * (a file name, say) unseen; one used is reported as unread.
 */
const HARMLESS = ['apiVersion', 'kind', 'metadata', 'namespace', 'labels', 'commonLabels', 'commonAnnotations', 'images'];

export function loadKustomization(dir: string): Kustomization {
  const files: string[] = [];
  const missing: string[] = [];
  const dirs: string[] = [];
  const unread: string[] = [];
  const visit = (d: string) => {
    dirs.push(d);
    const k = parseManifestFile(join(d, 'kustomization.yaml')).documents[0]?.body ?? {};
    for (const field of Object.keys(k)) {
      if (!HARMLESS.includes(field) && !(LISTS as readonly string[]).includes(field)) unread.push(`${rel(d)}/kustomization.yaml uses ${field}, which the deployment tests do not read`);
    }
    const entries: string[] = LISTS.flatMap((list) => (k[list] as string[] | undefined) ?? []);
    for (const entry of entries) {
      const path = resolve(d, entry);
      if (!existsSync(path)) missing.push(`${rel(d)}/kustomization.yaml lists ${entry}, which does not exist`);
      else if (statSync(path).isDirectory()) {
        if (existsSync(join(path, 'kustomization.yaml'))) visit(path);
        else missing.push(`${rel(d)}/kustomization.yaml lists ${entry}, a directory without kustomization.yaml`);
      } else if (!files.includes(path)) files.push(path);
    }
  };
  visit(dir);
  const objects = files.filter((f) => /\.ya?ml$/.test(f)).flatMap((f) => parseManifestFile(f).documents);
  return { dir, dirs, files, missing, unread, objects };
}

const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];

/** The pod specs of a kustomization's workloads, with the object that owns each. */
export function podSpecs(objects: readonly Manifest[]): Array<{ owner: Manifest; spec: PodSpec; labels: Record<string, string> }> {
  return objects.flatMap((o) => {
    if (WORKLOADS.includes(o.kind)) return [{ owner: o, spec: o.body.spec.template.spec as PodSpec, labels: o.body.spec.template.metadata?.labels ?? {} }];
    if (o.kind === 'Pod') return [{ owner: o, spec: o.body.spec as PodSpec, labels: o.body.metadata?.labels ?? {} }];
    return [];
  });
}

export const allContainers = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];

export function find(objects: readonly Manifest[], kind: string, name: string): Manifest | undefined {
  return objects.find((o) => o.kind === kind && o.name === name);
}

/** Keys of a ConfigMap or Secret (data, stringData, binaryData). */
export function keysOf(o: Manifest): string[] {
  return ['data', 'stringData', 'binaryData'].flatMap((field) => Object.keys(o.body[field] ?? {}));
}

/**
 * The environment a container gets, as far as the manifests say: literal
 * values, ConfigMap values through envFrom, and `undefined` for values from a
 * Secret or a key reference (only their names are known).
 */
export function environment(c: Container, objects: readonly Manifest[]): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const from of c.envFrom ?? []) {
    const cm = from.configMapRef && find(objects, 'ConfigMap', from.configMapRef.name);
    for (const [k, v] of Object.entries<string>(cm?.body.data ?? {})) env.set(k, v);
    const secret = from.secretRef && find(objects, 'Secret', from.secretRef.name);
    if (secret) for (const k of keysOf(secret)) env.set(k, undefined);
  }
  for (const e of c.env ?? []) env.set(e.name, e.value);
  return env;
}

/** Where a file of a volume comes from: a key of a ConfigMap or Secret, or (name and key empty) the downward API or a service account token. */
export interface FileSource { readonly kind: 'ConfigMap' | 'Secret' | 'downwardAPI' | 'serviceAccountToken'; readonly name: string; readonly key: string }

/**
 * The files a volume holds from the start, by their path in the volume, when
 * the API server fills it (ConfigMap, Secret, projected): each key as a file
 * of its name, or with `items:` only the keys listed, each at its `path`.
 * `undefined` for a volume whose files appear at run time (emptyDir, claims).
 */
export function volumeFiles(v: Volume, objects: readonly Manifest[]): Map<string, FileSource> | undefined {
  const keys = (kind: 'ConfigMap' | 'Secret', name: string, items: readonly KeyToPath[] | undefined): Array<[string, FileSource]> => {
    const o = find(objects, kind, name);
    const mapping = items ?? (o ? keysOf(o) : []).map((key) => ({ key, path: key }));
    return mapping.map(({ key, path }) => [posix.normalize(path), { kind, name, key }]);
  };
  if (v.configMap) return new Map(keys('ConfigMap', v.configMap.name, v.configMap.items));
  if (v.secret) return new Map(keys('Secret', v.secret.secretName, v.secret.items));
  if (v.projected) {
    return new Map(
      v.projected.sources.flatMap((s): Array<[string, FileSource]> => [
        ...(s.configMap ? keys('ConfigMap', s.configMap.name, s.configMap.items) : []),
        ...(s.secret ? keys('Secret', s.secret.name, s.secret.items) : []),
        ...(s.downwardAPI?.items ?? []).map((i): [string, FileSource] => [posix.normalize(i.path), { kind: 'downwardAPI', name: '', key: '' }]),
        ...(s.serviceAccountToken ? [[posix.normalize(s.serviceAccountToken.path), { kind: 'serviceAccountToken', name: '', key: '' }] as [string, FileSource]] : []),
      ]),
    );
  }
  return undefined;
}

/** A path in a container, resolved to the volume that holds it. */
export interface VolumePath {
  /** The deepest mount the path is at or under: it hides whatever a mount above it has there. */
  readonly mount: VolumeMount;
  readonly volume: Volume | undefined;
  /** The path inside the volume ('.' for its top), through the mount's subPath. */
  readonly inVolume: string;
  /** What the volume holds from the start (volumeFiles); `undefined` when it is written at run time. */
  readonly files: Map<string, FileSource> | undefined;
}

export function volumePath(c: Container, spec: PodSpec, objects: readonly Manifest[], path: string): VolumePath | undefined {
  const under = (m: VolumeMount) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`);
  const mount = (c.volumeMounts ?? []).filter(under).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  const volume = spec.volumes?.find((v) => v.name === mount.name);
  const inVolume = posix.join(mount.subPath ?? '.', posix.relative(mount.mountPath, path) || '.');
  return { mount, volume, inVolume, files: volume && volumeFiles(volume, objects) };
}

/** A port given by name or number in a probe or Service, as a number, through the container's ports. */
export function portNumber(port: number | string, containers: readonly Container[]): number | undefined {
  if (typeof port === 'number') return port;
  return containers.flatMap((c) => c.ports ?? []).find((p) => p.name === port)?.containerPort;
}

const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

// --- Kubernetes checks that hold for any manifest; each returns every problem it finds.

/** Every ConfigMap, Secret, claim, ServiceAccount, Service and volume the pods refer to must be defined, with the keys used. */
export function referenceProblems(k: Kustomization): string[] {
  const problems: string[] = [];
  const need = (where: string, kind: string, name: string, key?: string) => {
    const o = find(k.objects, kind, name);
    if (!o) problems.push(`${where}: ${kind} ${name} is not defined`);
    else if (key !== undefined && !keysOf(o).includes(key)) problems.push(`${where}: ${kind} ${name} has no key ${key}`);
  };
  for (const { owner, spec } of podSpecs(k.objects)) {
    const where = `${owner.kind} ${owner.name}`;
    if (spec.serviceAccountName) need(where, 'ServiceAccount', spec.serviceAccountName);
    if (owner.kind === 'StatefulSet') need(where, 'Service', owner.body.spec.serviceName);
    const claimTemplates: string[] = (owner.body.spec.volumeClaimTemplates ?? []).map((t: { metadata: { name: string } }) => t.metadata.name);
    const volumes = new Set([...(spec.volumes ?? []).map((v) => v.name), ...claimTemplates]);
    for (const v of spec.volumes ?? []) {
      if (v.configMap) for (const key of v.configMap.items?.map((i) => i.key) ?? [undefined]) need(where, 'ConfigMap', v.configMap.name, key);
      if (v.secret) for (const key of v.secret.items?.map((i) => i.key) ?? [undefined]) need(where, 'Secret', v.secret.secretName, key);
      if (v.persistentVolumeClaim) need(where, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName);
      for (const s of v.projected?.sources ?? []) {
        if (s.configMap) for (const key of s.configMap.items?.map((i) => i.key) ?? [undefined]) need(where, 'ConfigMap', s.configMap.name, key);
        if (s.secret) for (const key of s.secret.items?.map((i) => i.key) ?? [undefined]) need(where, 'Secret', s.secret.name, key);
      }
    }
    for (const c of allContainers(spec)) {
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${where}/${c.name}: mounts undefined volume ${m.name}`);
      for (const f of c.envFrom ?? []) {
        if (f.configMapRef) need(`${where}/${c.name}`, 'ConfigMap', f.configMapRef.name);
        if (f.secretRef) need(`${where}/${c.name}`, 'Secret', f.secretRef.name);
      }
      for (const e of c.env ?? []) {
        const { secretKeyRef: s, configMapKeyRef: m } = e.valueFrom ?? {};
        if (s) need(`${where}/${c.name} ${e.name}`, 'Secret', s.name, s.key);
        if (m) need(`${where}/${c.name} ${e.name}`, 'ConfigMap', m.name, m.key);
      }
    }
  }
  return problems;
}

/** Services, PodDisruptionBudgets and NetworkPolicies must select pods of the same kustomization, on ports they have. */
export function selectorProblems(k: Kustomization): string[] {
  const pods = podSpecs(k.objects);
  const problems: string[] = [];
  const selected = (selector: Record<string, string>) => pods.filter((p) => selects(selector, p.labels));
  const checkPorts = (where: string, ports: Array<number | string>, selector: Record<string, string>) => {
    const targets = selected(selector);
    if (targets.length === 0) problems.push(`${where} selects no pod`);
    for (const port of ports) {
      for (const t of targets) if (portNumber(port, t.spec.containers) === undefined) problems.push(`${where}: ${t.owner.name} has no port ${port}`);
    }
  };
  for (const o of k.objects) {
    const where = `${o.kind} ${o.name}`;
    if (o.kind === 'Service') checkPorts(where, o.body.spec.ports.map((p: { port: number; targetPort?: number | string }) => p.targetPort ?? p.port), o.body.spec.selector);
    if (o.kind === 'PodDisruptionBudget') checkPorts(where, [], o.body.spec.selector.matchLabels);
    if (o.kind === 'NetworkPolicy') {
      const ports = (o.body.spec.ingress ?? []).flatMap((rule: { ports?: Array<{ port: number | string }> }) => (rule.ports ?? []).map((p) => p.port));
      checkPorts(where, ports, o.body.spec.podSelector.matchLabels);
    }
  }
  return problems;
}

/** The restricted Pod Security Standard and a bit more: no root, no escalation, no capabilities, read-only root filesystem. */
export function securityProblems(k: Kustomization): string[] {
  const problems: string[] = [];
  for (const { owner, spec } of podSpecs(k.objects)) {
    const where = `${owner.kind} ${owner.name}`;
    const pod = spec.securityContext ?? {};
    if (pod.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`);
    if (!pod.runAsUser) problems.push(`${where}: no non-zero runAsUser`);
    if (pod.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile is not RuntimeDefault`);
    if (spec.automountServiceAccountToken !== false) problems.push(`${where}: mounts a service account token it does not need`);
    for (const c of allContainers(spec)) {
      const s = c.securityContext ?? {};
      const at = `${where}/${c.name}`;
      if (s.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
      if (s.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
      if (!s.capabilities?.drop?.includes('ALL')) problems.push(`${at}: does not drop ALL capabilities`);
      if (s.capabilities?.add?.length) problems.push(`${at}: adds capabilities`);
      if (s.privileged) problems.push(`${at}: is privileged`);
      if (s.runAsUser === 0) problems.push(`${at}: runs as root`);
    }
  }
  return problems;
}

// --- Dockerfile --------------------------------------------------------------

export interface Instruction { readonly keyword: string; readonly args: string }
export interface Stage { readonly from: string; readonly name: string | undefined; readonly instructions: Instruction[] }

/** Stages of a Dockerfile: comments dropped, continuation lines joined. */
export function dockerStages(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const [, from = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ from, name, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** KEY=value pairs of ENV instructions (the `ENV KEY value` form too). */
export function dockerEnv(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    if (!args.includes('=')) {
      const [k = '', ...v] = args.split(/\s+/);
      env.set(k, v.join(' '));
    } else {
      for (const pair of args.split(/\s+/)) env.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
  }
  return env;
}

// --- systemd -----------------------------------------------------------------

/** Section → directive → every value given, in order (directives may repeat). */
export type Unit = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a directive: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

export const directive = (unit: Unit, section: string, key: string): string[] => unit.get(section)?.get(key) ?? [];

/** Directives that give a service a credential, in $CREDENTIALS_DIRECTORY (%d), by the ID before their first colon. */
const CREDENTIAL_DIRECTIVES = ['LoadCredential', 'LoadCredentialEncrypted', 'SetCredential', 'SetCredentialEncrypted', 'ImportCredential'];

/** IDs of the credentials a unit's service gets; ImportCredential= may give a glob. */
export function credentialIds(unit: Unit): string[] {
  return CREDENTIAL_DIRECTIVES.flatMap((key) => directive(unit, 'Service', key).map((v) => v.split(':')[0]!.trim()));
}

/** Every credential a unit's [Service] directives read by path: %d/ID, $CREDENTIALS_DIRECTORY/ID or ${CREDENTIALS_DIRECTORY}/ID. */
export function credentialReferences(unit: Unit): Array<{ setting: string; id: string }> {
  const reference = /(?<!%)(?:%d|\$CREDENTIALS_DIRECTORY|\$\{CREDENTIALS_DIRECTORY\})\/([^\s/"':;]+)/g;
  return [...(unit.get('Service') ?? [])].flatMap(([key, values]) =>
    values.flatMap((value) => [...value.matchAll(reference)].map((m) => ({ setting: `${key}=${value}`, id: m[1]! }))),
  );
}

/** The credentials a unit reads by path that none of its own directives gives: systemd makes no other file in that directory. */
export function undefinedCredentials(unit: Unit): Array<{ setting: string; id: string }> {
  const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^$|()[\]{}\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  const ids = credentialIds(unit).map(glob);
  return credentialReferences(unit).filter(({ id }) => !ids.some((given) => given.test(id)));
}

export function credentialProblems(unit: Unit): string[] {
  const ids = credentialIds(unit).join(', ') || 'none';
  return undefinedCredentials(unit).map(
    ({ setting, id }) => `${setting} reads credential ${id}, which no LoadCredential=, LoadCredentialEncrypted=, SetCredential= or ImportCredential= of the unit gives (it gives: ${ids})`,
  );
}

/** Environment= assignments of a unit (KEY=value words; quotes are not used in ours). */
export function unitEnvironment(unit: Unit): Map<string, string> {
  return new Map(directive(unit, 'Service', 'Environment').flatMap((v) => v.split(/\s+/)).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/** KEY=value lines of an EnvironmentFile. */
export function envFile(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}
