/**
 * The demo's story, step by step: the CA, the workloads' entries and agents,
 * two services calling each other, a root rotation under traffic, and the
 * tally. Everything it starts is handed to the Session, which stops it.
 */
import { join } from 'node:path';
import type { AdminClient } from '../cli/admin-client.js';
import { systemClock } from '../time/clock.js';
import { enroll, signingAuthorities, startDemoAgent, startDemoCa, SVID_TTL_SECONDS, ROOT_PROPAGATION_SECONDS, TRUST_DOMAIN, writeTrustBundle } from './mesh-setup.js';
import { readInstalled, startService, type CallResult, type Lineage, type ServiceIdentity } from './mtls-service.js';
import { seconds, type Narrator } from './narrator.js';
import type { Session } from './session.js';
import { Traffic, type Route } from './traffic.js';

/** One call per direction every this many ms, each a new TLS handshake. */
const CALL_INTERVAL_MS = 200;
/** How long traffic runs before and after the rotation. */
const STEADY_MS = 3000;

const WORKLOADS = ['frontend', 'backend'] as const;
type Workload = (typeof WORKLOADS)[number];
const PHASES = ['before the rotation', 'during the rotation', 'after the rotation'] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const short = (hex: string) => `${hex.slice(0, 8)}…`;

async function waitUntil(what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
  const start = systemClock.nowMs();
  while (!condition()) {
    if (systemClock.nowMs() - start > timeoutMs) throw new Error(`timed out after ${seconds(timeoutMs)} waiting until ${what}`);
    await sleep(100);
  }
  return systemClock.nowMs() - start;
}

function installedOrUndefined(dir: string) {
  try {
    return readInstalled(dir);
  } catch {
    return undefined;
  }
}

export class Story {
  /** Roots by id, as the story names them. */
  private readonly roots = new Map<string, 'original' | 'new'>();
  private traffic: Traffic | undefined;

  constructor(
    private readonly say: Narrator,
    private readonly session: Session,
  ) {}

  /** "original" or "new", for a root id or the 16-hex-digit prefix a certificate's CN carries. */
  private rootAge(prefix: string): string {
    for (const [id, age] of this.roots) if (id.startsWith(prefix)) return age;
    return 'other';
  }

  private rootName(prefix: string): string {
    return `the ${this.rootAge(prefix)} root ${short(prefix)}`;
  }

  private describe(c: Lineage): string {
    return `SVID ${short(c.serial)} from intermediate ${short(c.intermediate)} under ${this.rootName(c.root)}`;
  }

  /** Runs the story; true when every call in every phase succeeded. */
  async run(): Promise<boolean> {
    const { say, session } = this;
    say.title(`meshca demo: a CA, two agents and two mutual-TLS services on this machine (in ${session.dir})`);

    say.step('Start the certificate authority');
    const ca = await startDemoCa(join(session.dir, 'ca'));
    session.adopt(ca.process);
    const first = await signingAuthorities(ca.admin);
    this.roots.set(first.root, 'original');
    say.ok(`meshca server (pid ${ca.process.pid}) listens on ${ca.url} for trust domain ${TRUST_DOMAIN}`);
    say.info(`root ${short(first.root)} signs intermediate ${short(first.intermediate)}; SVIDs live ${SVID_TTL_SECONDS} s and agents renew them at half-life`);

    say.step('Register the workloads and let their agents attest');
    const trustBundle = join(session.dir, 'trust-bundle.pem');
    await writeTrustBundle(ca.admin, trustBundle);
    const services = Object.fromEntries(
      WORKLOADS.map((name) => [name, { name, spiffeId: `spiffe://${TRUST_DOMAIN}/demo/${name}`, dir: join(session.dir, name, 'svid') }]),
    ) as Record<Workload, ServiceIdentity>;
    for (const w of WORKLOADS) {
      const tokenFile = join(session.dir, `${w}.token`);
      await enroll(ca.admin, `${w}-node`, services[w].spiffeId, tokenFile);
      say.ok(`entry: agent ${w}-node may obtain ${services[w].spiffeId} (DNS SAN localhost); a single-use join token for it`);
      const agent = session.adopt(startDemoAgent({ name: w, ca, trustBundle, tokenFile, out: services[w].dir }));
      say.ok(`meshca-agent for ${w} started (pid ${agent.pid}), publishing into ${services[w].dir}`);
    }
    for (const w of WORKLOADS) {
      await waitUntil(`the ${w} agent installed an SVID`, () => installedOrUndefined(services[w].dir) !== undefined, 15_000);
      say.ok(`${w}'s agent installed ${this.describe(readInstalled(services[w].dir))}`);
    }

    say.step('Start two mutual-TLS services that call each other');
    const frontend = await startService(services.frontend, services.backend.spiffeId);
    session.onClose(frontend.close);
    const backend = await startService(services.backend, services.frontend.spiffeId);
    session.onClose(backend.close);
    say.ok(`frontend on https://127.0.0.1:${frontend.port}, backend on https://127.0.0.1:${backend.port}; each accepts only the other's SPIFFE ID`);
    say.info('every call is a new TLS handshake with the files the agent installed last (read through ..data)');
    const routes: Route[] = [
      { from: services.frontend, to: backend },
      { from: services.backend, to: frontend },
    ];
    const traffic = (this.traffic = new Traffic(
      routes,
      { call: (r, res, first) => this.onCall(r, res, first), newCertificate: (s, c) => this.onCertificate(s, c) },
      CALL_INTERVAL_MS,
    ));
    session.onClose(() => traffic.stop());
    traffic.enterPhase(PHASES[0]);
    traffic.start();
    await sleep(STEADY_MS);
    this.tally(PHASES[0]);

    say.step('Rotate the root while the services keep calling');
    traffic.enterPhase(PHASES[1]);
    await this.rotateRoot(ca.admin, traffic, services);
    this.tally(PHASES[1]);

    say.step('Traffic after the rotation');
    traffic.enterPhase(PHASES[2]);
    await sleep(STEADY_MS);
    await traffic.stop();
    this.tally(PHASES[2]);
    return this.summary();
  }

  /** The operator's runbook: prepare, wait until every agent has the new bundle, activate; then watch the services switch. */
  private async rotateRoot(admin: AdminClient, traffic: Traffic, services: Record<Workload, ServiceIdentity>): Promise<void> {
    const { say } = this;
    const prepared = await admin.call<{ id: string; bundleSequence: number }>('POST', '/v1/authorities/root/prepare', {});
    const preparedAt = systemClock.nowMs();
    this.roots.set(prepared.id, 'new');
    say.ok(`prepared root ${short(prepared.id)}: the trust bundle (sequence ${prepared.bundleSequence}) now holds the old and the new root`);
    const spread = await waitUntil(
      'both agents installed the two-root bundle',
      () => WORKLOADS.every((w) => (installedOrUndefined(services[w].dir)?.bundleRoots ?? 0) >= 2),
      15_000,
    );
    say.ok(`both agents installed the two-root bundle ${seconds(spread)} later: each service now trusts both roots`);
    // The CA refuses activation until --root-propagation has passed since prepare; the demo saw the bundle arrive, so it waits out the rest.
    await sleep(Math.max(0, ROOT_PROPAGATION_SECONDS * 1000 + 200 - (systemClock.nowMs() - preparedAt)));
    const activated = await admin.call<{ id: string; signingIntermediate: string }>('POST', '/v1/authorities/root/activate', {});
    const activatedAt = systemClock.nowMs();
    say.ok(`activated root ${short(activated.id)}: its intermediate ${short(activated.signingIntermediate)} signs every SVID from now on`);
    say.info('the agents re-issue at half-life; the services pick up each new SVID on their next handshake:');
    await waitUntil(
      'both services present an SVID under the new root',
      () => WORKLOADS.every((w) => prepared.id.startsWith(traffic.certificates.get(w)?.at(-1)?.root ?? '-')),
      4 * SVID_TTL_SECONDS * 1000,
    );
    say.ok(`both services present SVIDs under the new root, ${seconds(systemClock.nowMs() - activatedAt)} after activation`);
  }

  private onCall(route: Route, result: CallResult, first: boolean): void {
    const who = (s: ServiceIdentity) => `${s.name} (${s.spiffeId})`;
    if (!result.ok) {
      this.say.fail(`${who(route.from)} → ${who(route.to)} failed: ${result.error ?? `HTTP ${result.status}`}`);
    } else if (first) {
      const detail = result.client && result.server ? `  ${route.from.name} SVID ${short(result.client.serial)}, ${route.to.name} SVID ${short(result.server.serial)}` : '';
      this.say.info(`${who(route.from)} → ${who(route.to)}: ${this.say.green(String(result.status))}${this.say.dim(detail)}`);
    }
  }

  private onCertificate(service: string, certificate: Lineage): void {
    const seen = this.traffic?.certificates.get(service) ?? [];
    const previous = seen.at(-2);
    if (!previous) return; // the first one was shown when the agent installed it
    if (previous.root === certificate.root) this.say.change(`${service}'s agent renewed at half-life; ${service} now presents ${this.describe(certificate)}`);
    else this.say.change(`${service} switched to ${this.describe(certificate)}`);
  }

  private tally(phase: string): void {
    const t = this.traffic!.tallies.get(phase)!;
    if (t.failed === 0) this.say.ok(`${phase}: ${t.calls} calls, ${this.say.green(`all ${t.ok} answered 200`)}`);
    else this.say.fail(`${phase}: ${t.calls} calls, ${t.failed} failed`);
  }

  private summary(): boolean {
    const { say } = this;
    const traffic = this.traffic!;
    say.plain();
    say.plain(say.bold('Summary'));
    say.plain(`  ${'phase'.padEnd(22)}${'calls'.padStart(6)}${'ok'.padStart(6)}${'failed'.padStart(8)}`);
    for (const phase of PHASES) {
      const t = traffic.tallies.get(phase)!;
      say.plain(`  ${phase.padEnd(22)}${String(t.calls).padStart(6)}${String(t.ok).padStart(6)}${String(t.failed).padStart(8)}`);
    }
    for (const w of WORKLOADS) {
      const used = traffic.certificates.get(w) ?? [];
      say.plain(`  ${w} presented ${used.length} SVIDs: ${used.map((c) => `${short(c.serial)} (${this.rootAge(c.root)} root)`).join(', ')}`);
    }
    const total = traffic.total();
    const answered = PHASES.every((p) => traffic.everyRouteAnswered(p));
    const success = total.failed === 0 && answered;
    say.plain();
    if (success) {
      say.plain(say.green(`✓ ${total.calls} mutual-TLS calls, 0 failed, through a root rotation, in ${seconds(say.elapsedSeconds() * 1000)}.`));
    } else {
      say.plain(say.red(`✗ ${total.failed} of ${total.calls} calls failed${answered ? '' : ', and some direction had no successful call in a phase'}.`));
    }
    return success;
  }
}
