/**
 * Steady traffic between the services: each route (caller → callee) makes a
 * call every interval, each over a new mutual-TLS connection, so every call
 * uses the certificates installed at that moment. Results are tallied per
 * phase of the story, and a service presenting a certificate it did not
 * present before is reported once.
 */
import { callService, type CallResult, type Lineage, type RunningService, type ServiceIdentity } from './mtls-service.js';

export interface Route {
  readonly from: ServiceIdentity;
  readonly to: RunningService;
}

export interface Tally {
  calls: number;
  ok: number;
  failed: number;
}

export interface TrafficEvents {
  /** Every call; `firstOfPhase` is true for the route's first successful call in the current phase. */
  call(route: Route, result: CallResult, firstOfPhase: boolean): void;
  /** A service presented (as caller or callee) a certificate not seen from it before. */
  newCertificate(service: string, certificate: Lineage): void;
}

export class Traffic {
  private phase = '';
  private running = false;
  private loops: Array<Promise<void>> = [];
  private readonly greeted = new Set<string>();
  /** Per phase, in the order phases began. */
  readonly tallies = new Map<string, Tally>();
  /** Every certificate each service presented, in order. */
  readonly certificates = new Map<string, Lineage[]>();

  constructor(
    private readonly routes: readonly Route[],
    private readonly events: TrafficEvents,
    private readonly intervalMs: number,
  ) {}

  /** Calls made from now on count towards `name`. */
  enterPhase(name: string): void {
    this.phase = name;
    this.tallies.set(name, { calls: 0, ok: 0, failed: 0 });
  }

  start(): void {
    this.running = true;
    this.loops = this.routes.map((route) => this.drive(route));
  }

  /** Stops calling and waits for calls in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Whether every route has had at least one successful call in `phase`. */
  everyRouteAnswered(phase: string): boolean {
    return this.routes.every((r) => this.greeted.has(`${phase}/${routeName(r)}`));
  }

  total(): Tally {
    const sum = { calls: 0, ok: 0, failed: 0 };
    for (const t of this.tallies.values()) {
      sum.calls += t.calls;
      sum.ok += t.ok;
      sum.failed += t.failed;
    }
    return sum;
  }

  private async drive(route: Route): Promise<void> {
    while (this.running) {
      const phase = this.phase;
      const result = await callService(route.from, route.to);
      this.record(route, phase, result);
      if (this.running) await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }

  private record(route: Route, phase: string, result: CallResult): void {
    const tally = this.tallies.get(phase);
    if (tally) {
      tally.calls++;
      if (result.ok) tally.ok++;
      else tally.failed++;
    }
    if (result.client) this.notice(route.from.name, result.client);
    if (result.server) this.notice(route.to.name, result.server);
    const key = `${phase}/${routeName(route)}`;
    const first = result.ok && !this.greeted.has(key);
    if (first) this.greeted.add(key);
    this.events.call(route, result, first);
  }

  private notice(service: string, certificate: Lineage): void {
    const seen = this.certificates.get(service) ?? [];
    if (seen.some((c) => c.serial === certificate.serial)) return;
    seen.push(certificate);
    this.certificates.set(service, seen);
    this.events.newCertificate(service, certificate);
  }
}

function routeName(route: Route): string {
  return `${route.from.name}->${route.to.name}`;
}
