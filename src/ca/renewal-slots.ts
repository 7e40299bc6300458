/**
 * When each SVID should be renewed, chosen by the CA so that renewals arrive
 * evenly. Agents that each pick a random moment renew like a Poisson process:
 * with a hundred thousand of them some seconds get 1.6× the mean. The CA sees
 * every issuance, so it books each renewal into the less busy of two random
 * seconds of the renewal window ("two choices" load balancing), which keeps
 * the busiest second within a few renewals of the mean however large the
 * fleet. The agent follows the CA's time when it lies in the window it
 * expects and uses its own jitter otherwise (see agent/timing.ts).
 *
 * Bookings live in memory: after a restart, or on another replica, choices
 * balance against what that process has booked since, which is still flatter
 * than independent jitter.
 */
import { unitRandom, type RandomSource } from '../random/random-source.js';

/** The renewal window, as fractions of the lifetime counted from issuance: around half-life. */
const RENEWAL_WINDOW = { from: 0.45, to: 0.55 } as const;

export class RenewalSlots {
  /** Renewals booked per unix second, for seconds not yet past. */
  private readonly booked = new Map<number, number>();
  /** Every second before this one has been dropped from `booked`. */
  private prunedBefore = 0;

  constructor(private readonly random: RandomSource) {}

  /** Books and returns the second at which a certificate issued at `issuedAt` and expiring at `notAfter` should be renewed. */
  book(issuedAt: number, notAfter: number): number {
    this.prune(issuedAt);
    const life = notAfter - issuedAt;
    const first = issuedAt + Math.ceil(life * RENEWAL_WINDOW.from);
    const span = Math.max(1, Math.floor(life * RENEWAL_WINDOW.to) - Math.ceil(life * RENEWAL_WINDOW.from) + 1);
    const a = first + Math.floor(unitRandom(this.random) * span);
    const b = first + Math.floor(unitRandom(this.random) * span);
    const chosen = this.load(b) < this.load(a) ? b : a;
    this.booked.set(chosen, this.load(chosen) + 1);
    return chosen;
  }

  /** Renewals booked for a second. */
  load(second: number): number {
    return this.booked.get(second) ?? 0;
  }

  /** How many future seconds hold bookings: never more than the SVIDs still to be renewed, however long the CA runs. */
  get bookedSeconds(): number {
    return this.booked.size;
  }

  private prune(now: number): void {
    if (now <= this.prunedBefore) return;
    if (now - this.prunedBefore < this.booked.size) {
      for (let s = this.prunedBefore; s < now; s++) this.booked.delete(s);
    } else {
      for (const s of this.booked.keys()) if (s < now) this.booked.delete(s);
    }
    this.prunedBefore = now;
  }
}
