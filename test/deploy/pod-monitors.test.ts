/**
 * deploy/prometheus/podmonitors.yaml against the manifests it is for: each
 * PodMonitor reaches in deploy/kubernetes exactly the ports that serve the
 * metrics it is named for (the CA's --metrics-listen, each agent's
 * --health-listen), selected as the Prometheus Operator selects them: pods
 * in its namespace (or any, if it says so) whose labels match, then their
 * containers' ports of the name an endpoint gives.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allContainers, DEPLOY, KUBERNETES, loadKustomization, parseManifestFile, podSpecs, type Manifest,
} from '../support/deploy-files.js';

/** Where podmonitors.yaml says to apply it. */
const APPLIED_IN = 'meshca';
const KUSTOMIZATIONS = ['embedded', 'postgres', 'example-workload'];
const parsed = parseManifestFile(join(DEPLOY, 'prometheus', 'podmonitors.yaml'));

interface PodMonitorSpec {
  readonly namespaceSelector?: { any?: boolean };
  readonly selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  readonly podMetricsEndpoints: ReadonlyArray<{ port: string; path: string; scheme: string }>;
}

/** Each port `monitor` scrapes in the kustomization `name`, as "name: Kind owner/container:port". */
function reached(monitor: Manifest, name: string): string[] {
  const k = loadKustomization(join(KUBERNETES, name));
  const namespace = parseManifestFile(join(KUBERNETES, name, 'kustomization.yaml')).documents[0]?.body.namespace as string | undefined;
  const spec = monitor.body.spec as PodMonitorSpec;
  if (!spec.namespaceSelector?.any && namespace !== APPLIED_IN) return [];
  // matchExpressions are not read here: one would select other pods than these checks see.
  expect(spec.selector.matchExpressions ?? []).toEqual([]);
  const selects = (labels: Record<string, string>) => Object.entries(spec.selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return podSpecs(k.objects)
    .filter((pod) => selects(pod.labels))
    .flatMap(({ owner, spec: pod }) =>
      allContainers(pod).flatMap((c) =>
        (c.ports ?? []).filter((p) => spec.podMetricsEndpoints.some((e) => e.port === p.name)).map((p) => `${name}: ${owner.kind} ${owner.name}/${c.name}:${p.containerPort}`),
      ),
    );
}

describe('deploy/prometheus PodMonitors', () => {
  it('parse, each a PodMonitor scraping /metrics over plain HTTP', () => {
    expect(parsed.errors).toEqual([]);
    expect(parsed.documents.map((d) => [d.kind, d.name, (d.body.spec as PodMonitorSpec).podMetricsEndpoints.map((e) => `${e.scheme} ${e.path}`)])).toEqual([
      ['PodMonitor', 'meshca', ['http /metrics']],
      ['PodMonitor', 'meshca-agents', ['http /metrics']],
    ]);
  });

  it.each([
    ['meshca', ['embedded: StatefulSet meshca/meshca:9090', 'postgres: Deployment meshca/meshca:9090']],
    ['meshca-agents', ['example-workload: Deployment web/meshca-agent:8081']],
  ])('%s reaches exactly the metrics ports of what it is named for, and nothing else', (monitorName, expected) => {
    const monitor = parsed.documents.find((d) => d.name === monitorName)!;
    expect(KUSTOMIZATIONS.flatMap((name) => reached(monitor, name))).toEqual(expected);
  });
});
