/** The agent's /metrics, read back by a Prometheus text-format parser. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { renderAgentMetrics } from '../../src/agent/metrics.js';
import type { SidecarStatus } from '../../src/agent/sidecar.js';
import { FakeClock } from '../support/fake-clock.js';
import { MiniCa } from '../support/mini-ca.js';
import { Scrape } from '../support/prometheus.js';

const NAMES = [
  'meshca_agent_build_info',
  'meshca_agent_svid_expiry_seconds',
  'meshca_agent_crl_next_update_timestamp_seconds',
  'meshca_agent_ready',
  'meshca_agent_agent_svid_expiry_seconds',
  'meshca_agent_renewals_total',
  'meshca_agent_renewal_failures_total',
  'meshca_agent_seconds_since_last_sync',
  'meshca_agent_syncs_total',
  'meshca_agent_sync_failures_total',
  'meshca_agent_reloads_total',
  'meshca_agent_reload_failures_total',
  'meshca_agent_out_write_failures_total',
  'meshca_agent_state_write_failures_total',
  'meshca_agent_out_repairs_total',
];

const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
const now = clock.nowMs();
const held = (notAfterMs: number) => ({
  keyPem: '',
  chainPem: '',
  spiffeId: 'spiffe://example.org/ns/web',
  serial: '01',
  notBeforeMs: now - 60_000,
  notAfterMs,
});

/** An agent that has synced nothing and installed nothing yet. */
const STARTING = {
  installed: undefined,
  agentSvid: undefined,
  lastSyncMs: undefined,
  ready: false,
  counters: { renewals: 0, renewalFailures: 0, reloads: 0, reloadFailures: 0, syncs: 0, syncFailures: 0, outRepairs: 0, outWriteFailures: 0, stateWriteFailures: 0 },
} as SidecarStatus;

describe('agent metrics', () => {
  it('reports expiry, time since sync and every counter', () => {
    const status = {
      installed: held(now + 1_800_000),
      agentSvid: held(now + 3_000_000),
      lastSyncMs: now - 12_000,
      ready: true,
      counters: { renewals: 3, renewalFailures: 1, reloads: 3, reloadFailures: 2, syncs: 40, syncFailures: 4, outRepairs: 5, outWriteFailures: 6, stateWriteFailures: 7 },
    } as unknown as SidecarStatus;
    const scrape = new Scrape(renderAgentMetrics(status, clock, '1.2.3'));
    expect(Object.fromEntries(NAMES.map((n) => [n, [scrape.type(n), scrape.value(n)]]))).toEqual({
      meshca_agent_build_info: ['GAUGE', 1],
      meshca_agent_svid_expiry_seconds: ['GAUGE', 1800],
      meshca_agent_crl_next_update_timestamp_seconds: ['GAUGE', undefined],
      meshca_agent_ready: ['GAUGE', 1],
      meshca_agent_agent_svid_expiry_seconds: ['GAUGE', 3000],
      meshca_agent_renewals_total: ['COUNTER', 3],
      meshca_agent_renewal_failures_total: ['COUNTER', 1],
      meshca_agent_seconds_since_last_sync: ['GAUGE', 12],
      meshca_agent_syncs_total: ['COUNTER', 40],
      meshca_agent_sync_failures_total: ['COUNTER', 4],
      meshca_agent_reloads_total: ['COUNTER', 3],
      meshca_agent_reload_failures_total: ['COUNTER', 2],
      meshca_agent_out_write_failures_total: ['COUNTER', 6],
      meshca_agent_state_write_failures_total: ['COUNTER', 7],
      meshca_agent_out_repairs_total: ['COUNTER', 5],
    });
  });

  it('reports no time since the last sync, not a negative one, once the clock was set back past it', () => {
    const status = {
      installed: undefined,
      agentSvid: undefined,
      lastSyncMs: now + 180_000,
      counters: { renewals: 0, renewalFailures: 0, reloads: 0, reloadFailures: 0, syncs: 1, syncFailures: 0, outRepairs: 0, outWriteFailures: 0, stateWriteFailures: 0 },
    } as SidecarStatus;
    expect(new Scrape(renderAgentMetrics(status, clock, '1.2.3')).value('meshca_agent_seconds_since_last_sync')).toBe(0);
  });

  it('leaves out values it does not have yet, and is not ready without an SVID', () => {
    const scrape = new Scrape(renderAgentMetrics(STARTING, clock, '1.2.3'));
    expect(scrape.samples('meshca_agent_svid_expiry_seconds')).toEqual([]);
    expect(scrape.value('meshca_agent_renewals_total')).toBe(0);
    expect(scrape.value('meshca_agent_ready')).toBe(0);
  });

  it('names the version of meshca-agent and of Node.js that run, escaped as a label value must be', () => {
    const text = renderAgentMetrics(STARTING, clock, '1.2.3-"rc"\\1');
    expect(new Scrape(text).samples('meshca_agent_build_info')).toEqual([{ labels: { version: '1.2.3-"rc"\\1', nodejs: process.versions.node }, value: 1 }]);
    // promtool's linter, as Prometheus reads it: names, types, HELP lines and label escapes.
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: lint.status, output: `${lint.stdout}${lint.stderr}` }).toEqual({ status: 0, output: '' });
  });

  // nginx and HAProxy refuse every client of an issuer whose CRL is past its nextUpdate: the first to lapse is the one to watch.
  it('gives when the first of the CRLs installed in crl.pem expires, and nothing without a CRL', async () => {
    const root = await MiniCa.create(clock);
    const earlier = await MiniCa.create(new FakeClock(now - 7_200_000));
    const crlPem = (await root.crlPem([])) + (await earlier.crlPem(['0a']));
    const scrape = (installed: unknown) => new Scrape(renderAgentMetrics({ ...STARTING, installed } as SidecarStatus, clock, '0'));
    expect(scrape({ ...held(now + 60_000), crlPem }).samples('meshca_agent_crl_next_update_timestamp_seconds')).toEqual([{ labels: {}, value: now / 1000 - 7200 + 86400 }]);
    expect(scrape({ ...held(now + 60_000), crlPem: undefined }).samples('meshca_agent_crl_next_update_timestamp_seconds')).toEqual([]);
  });
});
