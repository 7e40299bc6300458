import type { Clock } from '../../src/time/clock.js';

/** A clock that moves only when told, in whole seconds like X.509 times. */
export class FakeClock implements Clock {
  private ms: number;

  constructor(start: Date | number = Date.UTC(2026, 10, 25, 12, 0, 0)) {
    this.ms = typeof start === 'number' ? start : start.getTime();
  }

  nowMs(): number {
    return this.ms;
  }

  nowSeconds(): number {
    return Math.floor(this.ms / 1000);
  }

  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }

  set(date: Date | number): void {
    this.ms = typeof date === 'number' ? date : date.getTime();
  }
}
