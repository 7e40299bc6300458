/**
 * Setting up the demo mesh with the real binaries and the operator's own
 * channel: `meshca server` on a loopback port the system picks, entries and
 * join tokens through the CA's unix socket (what `meshca entry create` and
 * `meshca token create` do), and one `meshca-agent` per workload.
 */
import { writeFileSync } from 'node:fs';
import { AdminClient } from '../cli/admin-client.js';
import { localEndpoint } from '../cli/local-endpoint.js';
import { AGENT_BIN, MESHCA_BIN, startChild, type DemoChild } from './children.js';

export const TRUST_DOMAIN = 'example.org';
/** Short lifetimes so that renewals and a rotation happen within seconds. */
export const SVID_TTL_SECONDS = 10;
/** How long a prepared root must have been in the bundle before it may be activated. */
export const ROOT_PROPAGATION_SECONDS = 2;

export interface DemoCa {
  readonly process: DemoChild;
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly admin: AdminClient;
}

export async function startDemoCa(dataDir: string): Promise<DemoCa> {
  const ca = startChild('meshca server', MESHCA_BIN, [
    'server',
    '--data-dir', dataDir,
    '--listen', '127.0.0.1:0',
    '--trust-domain', TRUST_DOMAIN,
    // The SVID lifetime may be at most a sixth of the intermediate's; 5m leaves automatic intermediate rotation out of a short demo.
    '--intermediate-ttl', '5m',
    '--svid-ttl', `${SVID_TTL_SECONDS}s`,
    '--svid-max-ttl', `${SVID_TTL_SECONDS}s`,
    '--root-propagation', `${ROOT_PROPAGATION_SECONDS}s`,
    '--rotation-schedule', '* * * * * *',
    '--log-level', 'info',
  ]);
  try {
    const ready = await ca.waitForLog((line) => line.msg === 'meshca CA listening', 20_000);
    return { process: ca, url: `https://${String(ready.address)}`, admin: new AdminClient(localEndpoint(dataDir)) };
  } catch (err) {
    await ca.stop();
    throw new Error(`${(err as Error).message}\n${ca.tail(20)}`);
  }
}

export interface AuthorityView {
  readonly id: string;
  readonly kind: 'root' | 'intermediate';
  readonly state: string;
  readonly signing: boolean;
}

/** The root and intermediate that sign now. */
export async function signingAuthorities(admin: AdminClient): Promise<{ root: string; intermediate: string }> {
  const { authorities } = await admin.call<{ authorities: AuthorityView[] }>('GET', '/v1/authorities');
  const signing = (kind: AuthorityView['kind']) => authorities.find((a) => a.kind === kind && a.signing)?.id ?? 'none';
  return { root: signing('root'), intermediate: signing('intermediate') };
}

/** Grants `agent` the identity `spiffeId` (DNS SAN localhost) and writes a single-use join token for it to `tokenFile`. */
export async function enroll(admin: AdminClient, agent: string, spiffeId: string, tokenFile: string): Promise<void> {
  await admin.call('POST', '/v1/entries', { agent, spiffeId, dns: ['localhost'] });
  const { token } = await admin.call<{ token: string }>('POST', '/v1/tokens', { agent });
  writeFileSync(tokenFile, token, { mode: 0o600 });
}

/** Writes the CA's current trust bundle where agents read it at first contact. */
export async function writeTrustBundle(admin: AdminClient, path: string): Promise<void> {
  const res = await admin.raw('GET', '/v1/bundle.pem');
  if (res.status !== 200) throw new Error(`GET /v1/bundle.pem answered ${res.status}`);
  writeFileSync(path, res.body);
}

/** `meshca-agent` for one workload, syncing every second so a new bundle or CRL is picked up at once. */
export function startDemoAgent(o: { name: string; ca: DemoCa; trustBundle: string; tokenFile: string; out: string }): DemoChild {
  return startChild(`meshca-agent ${o.name}`, AGENT_BIN, [
    '--server', o.ca.url,
    '--trust-bundle', o.trustBundle,
    '--join-token-file', o.tokenFile,
    '--out', o.out,
    '--sync-interval', '1s',
    '--log-level', 'info',
  ]);
}
