/**
 * deploy/prometheus: the alerting rules pass Prometheus's own checker and
 * their unit tests (promtool, which .ci/run installs with Debian's
 * prometheus), and every metric and label they select is one the CA or the
 * agent exports, so no rule watches a series that never exists; and README
 * names every metric with its labels, which is what dashboards are written from.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderAgentMetrics } from '../../src/agent/metrics.js';
import { AuthoritySet } from '../../src/ca/authority-set.js';
import { CaMetrics } from '../../src/server/metrics.js';
import type { SidecarStatus } from '../../src/agent/sidecar.js';
import { asOperator } from '../support/callers.js';
import { DEPLOY, REPO } from '../support/deploy-files.js';
import { FakeClock } from '../support/fake-clock.js';
import { Scrape } from '../support/prometheus.js';
import { mintSvid } from '../support/svids.js';
import { startTestCa } from '../support/test-ca.js';

const RULES_DIR = join(DEPLOY, 'prometheus');
const RULES = 'meshca-alerts.yaml';

function promtool(...args: string[]): { code: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: RULES_DIR, encoding: 'utf8' });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}); .ci/run installs it: apt-get install prometheus`);
  return { code: run.status, output: run.stdout + run.stderr };
}

interface Rule {
  alert: string;
  expr: string;
  labels?: { severity?: string };
  annotations?: { summary?: string; description?: string };
}

const groups = (parse(readFileSync(join(RULES_DIR, RULES), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups;
const rules = groups.flatMap((g) => g.rules);

/** Each meshca metric an expression selects, with the label names its matchers use. */
function selections(expr: string): Array<{ metric: string; labels: string[] }> {
  return [...expr.matchAll(/\b(meshca_[a-z_]+)(?:\{([^}]*)\})?/g)].map((m) => ({
    metric: m[1]!,
    labels: (m[2] ?? '').split(',').map((matcher) => matcher.trim().split(/\s*(?:=~|!~|!=|=)/)[0]!).filter(Boolean),
  }));
}

/** Every metric family the CA and the agent export, with the label names their samples carry. */
async function exported(): Promise<Map<string, Set<string>>> {
  const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
  const ca = await startTestCa({}, { clock });
  // Something of each kind, so that labelled families have samples: an issuance, a refusal, a transition.
  await mintSvid(ca.localApp, 'spiffe://example.org/ns/web');
  expect((await ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: 'spiffe://example.org/ns/web', csr: 'x' } })).statusCode).toBe(400);
  await asOperator(ca, 'POST', '/v1/authorities/root/prepare');
  const caScrape = (await ca.localApp.inject({ method: 'GET', url: '/metrics' })).body;
  const status = { installed: undefined, agentSvid: undefined, lastSyncMs: clock.nowMs(), ready: false, counters: {} } as unknown as SidecarStatus;
  const families = new Map<string, Set<string>>();
  for (const text of [caScrape, renderAgentMetrics(status, clock, '0')]) {
    const scrape = new Scrape(text);
    for (const name of text.matchAll(/^# TYPE (\S+) /gm)) {
      families.set(name[1]!, new Set(scrape.samples(name[1]!).flatMap((s) => Object.keys(s.labels))));
    }
  }
  return families;
}

describe('deploy/prometheus alerting rules', () => {
  it('pass promtool check rules', () => {
    const run = promtool('check', 'rules', RULES);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it("pass their unit tests (promtool test rules): each fires on what should raise it, and none on a healthy CA or agent", () => {
    const run = promtool('test', 'rules', 'meshca-alerts.test.yaml');
    expect(run.code, run.output).toBe(0);
    const tests = readFileSync(join(RULES_DIR, 'meshca-alerts.test.yaml'), 'utf8');
    for (const rule of rules) expect(tests, `${rule.alert} has a unit test that expects it to fire`).toMatch(new RegExp(`alertname: ${rule.alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });

  it('select only metrics and labels that meshca exports', async () => {
    const families = await exported();
    const problems = rules.flatMap((rule) =>
      selections(rule.expr).flatMap(({ metric, labels }) => {
        const known = families.get(metric);
        if (!known) return [`${rule.alert}: ${metric} is not exported`];
        return labels.filter((l) => !known.has(l)).map((l) => `${rule.alert}: ${metric} has no label ${l}`);
      }),
    );
    expect(problems).toEqual([]);
    expect(rules.flatMap((r) => selections(r.expr)).length).toBeGreaterThan(rules.length - 1);
  });

  it('give every alert a severity, a summary and a description', () => {
    for (const rule of rules) {
      expect({ alert: rule.alert, severity: ['warning', 'critical'].includes(rule.labels?.severity ?? ''), summary: !!rule.annotations?.summary, description: !!rule.annotations?.description })
        .toEqual({ alert: rule.alert, severity: true, summary: true, description: true });
    }
  });
});

/** Every family meshca declares itself (not prom-client's process and Node.js ones), with its label names, sorted. */
function declared(): Map<string, string[]> {
  const clock = new FakeClock(0);
  const ca = new CaMetrics({ clock, authorities: () => new AuthoritySet([], 0), liveSvids: async () => 0, agentsByStatus: async () => ({}), version: '0' });
  const families = new Map(
    ca.registry.getMetricsAsArray().map((m) => [m.name, [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])].sort()] as const),
  );
  const status = { installed: undefined, agentSvid: undefined, lastSyncMs: undefined, ready: false, counters: {} } as unknown as SidecarStatus;
  const agentText = renderAgentMetrics(status, clock, '0');
  const agentScrape = new Scrape(agentText);
  for (const m of agentText.matchAll(/^# TYPE (\S+) /gm)) {
    families.set(m[1]!, [...new Set(agentScrape.samples(m[1]!).flatMap((s) => Object.keys(s.labels)))].sort());
  }
  return new Map([...families].filter(([name]) => !/^meshca_(process|nodejs)_/.test(name)));
}

/** The metrics README's "Metrics and logs" names, as `name` or `name{label,...}`, with their label names, sorted. */
function documented(): Map<string, string[]> {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = /^## Metrics and logs\n([^]*?)^## /m.exec(readme)?.[1] ?? '';
  return new Map([...section.matchAll(/`(meshca_[a-z_]+)(?:\{([a-z_,]+)\})?`/g)].map((m) => [m[1]!, (m[2] ?? '').split(',').filter(Boolean).sort()]));
}

// A dashboard or rule is written from the README: a metric it leaves out, or names without the labels it has, is one nobody watches.
describe('README, "Metrics and logs"', () => {
  it('names every metric the CA and the agent export, with its labels', () => {
    const readme = documented();
    const problems = [...declared()].flatMap(([name, labels]) => {
      if (!readme.has(name)) return [`${name} is not named`];
      const given = readme.get(name)!;
      return given.join() === labels.join() ? [] : [`${name}: README gives {${given.join()}}, it has {${labels.join()}}`];
    });
    expect(problems).toEqual([]);
    expect([...readme.keys()].filter((name) => !declared().has(name))).toEqual([]);
  });
});
