/**
 * The agent's Prometheus metrics, rendered by hand in the text exposition
 * format: a handful of values does not justify a metrics library in a process
 * that runs next to every workload.
 */
import type { Clock } from '../time/clock.js';
import { crlsNextUpdate } from './crl-freshness.js';
import type { SidecarStatus } from './sidecar.js';

function metric(name: string, type: 'gauge' | 'counter', help: string, value: number | undefined): string {
  const line = value === undefined ? '' : `${name} ${Number.isFinite(value) ? value : 'NaN'}\n`;
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${line}`;
}

/** A label value as the exposition format wants it: backslash, double quote and newline escaped. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `version` is meshca's, for meshca_agent_build_info: a rollout shows as two series, one per version, while it lasts. */
export function renderAgentMetrics(status: SidecarStatus, clock: Clock, version: string): string {
  const now = clock.nowMs();
  const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
  const c = status.counters;
  return [
    `# HELP meshca_agent_build_info Always 1; its labels say which meshca-agent runs, on which Node.js.\n# TYPE meshca_agent_build_info gauge\n`
      + `meshca_agent_build_info{version="${labelValue(version)}",nodejs="${labelValue(process.versions.node)}"} 1\n`,
    metric('meshca_agent_svid_expiry_seconds', 'gauge', 'Seconds until the installed SVID expires (negative once expired).',
      seconds(status.installed && status.installed.notAfterMs - now)),
    metric('meshca_agent_crl_next_update_timestamp_seconds', 'gauge',
      'When the first CRL installed in crl.pem expires (its nextUpdate), as a Unix time: a proxy that checks CRLs refuses the clients of its issuer from then on.',
      status.installed?.crlPem === undefined ? undefined : crlsNextUpdate(status.installed.crlPem)),
    metric('meshca_agent_ready', 'gauge', '1 while /readyz answers 200 (the installed SVID may be served), else 0.', status.ready ? 1 : 0),
    metric('meshca_agent_agent_svid_expiry_seconds', 'gauge', "Seconds until the agent's own SVID expires.",
      seconds(status.agentSvid && status.agentSvid.notAfterMs - now)),
    metric('meshca_agent_renewals_total', 'counter', 'Workload SVIDs obtained and installed.', c.renewals),
    metric('meshca_agent_renewal_failures_total', 'counter', 'Workload SVID requests that failed.', c.renewalFailures),
    metric('meshca_agent_seconds_since_last_sync', 'gauge', 'Seconds since entries, bundle and CRL were last synced.',
      // Not negative after the clock was set back past the last sync: no time has passed since, as far as anyone can tell.
      seconds(status.lastSyncMs === undefined ? undefined : Math.max(0, now - status.lastSyncMs))),
    metric('meshca_agent_syncs_total', 'counter', 'Successful syncs with the CA.', c.syncs),
    metric('meshca_agent_sync_failures_total', 'counter', 'Failed syncs with the CA.', c.syncFailures),
    metric('meshca_agent_reloads_total', 'counter', 'Proxy reloads that succeeded.', c.reloads),
    metric('meshca_agent_reload_failures_total', 'counter', 'Proxy reloads that failed.', c.reloadFailures),
    metric('meshca_agent_out_write_failures_total', 'counter',
      'Publications into --out that failed (a full or read-only disk): the files installed before stay, and the agent tries again. Also those made whose sync of --out failed (EIO).', c.outWriteFailures),
    metric('meshca_agent_state_write_failures_total', 'counter',
      "Writes to --state-dir that failed (a full or read-only disk): the agent goes on with what it holds and saves it later; a restart before then may need a new join token.", c.stateWriteFailures),
    metric('meshca_agent_out_repairs_total', 'counter', 'Times the files installed in --out were installed again after something removed or changed them.', c.outRepairs),
  ].join('');
}
