/**
 * How the demo talks: numbered steps, one line per thing worth seeing, the
 * seconds since the start in front. Colour only on a terminal (and never with
 * NO_COLOR), so piped or captured output stays plain text.
 */
import type { Clock } from '../time/clock.js';

type Paint = (text: string) => string;

/** "1.5 s" */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class Narrator {
  private readonly startMs: number;
  private readonly colour: boolean;
  private stepNumber = 0;

  constructor(
    private readonly clock: Clock,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.startMs = clock.nowMs();
    this.colour = Boolean(out.isTTY) && !process.env.NO_COLOR;
  }

  private paint(open: number, close: number): Paint {
    return (text) => (this.colour ? `\u001b[${open}m${text}\u001b[${close}m` : text);
  }

  readonly bold = this.paint(1, 22);
  readonly dim = this.paint(2, 22);
  readonly green = this.paint(32, 39);
  readonly red = this.paint(31, 39);
  readonly cyan = this.paint(36, 39);
  readonly yellow = this.paint(33, 39);

  elapsedSeconds(): number {
    return (this.clock.nowMs() - this.startMs) / 1000;
  }

  private line(text: string): void {
    this.out.write(`${this.dim(`${this.elapsedSeconds().toFixed(1).padStart(5)}s`)}  ${text}\n`);
  }

  title(text: string): void {
    this.out.write(`${this.bold(text)}\n`);
  }

  step(text: string): void {
    this.out.write('\n');
    this.line(this.bold(`${++this.stepNumber}. ${text}`));
  }

  ok(text: string): void {
    this.line(`   ${this.green('✓')} ${text}`);
  }

  info(text: string): void {
    this.line(`     ${text}`);
  }

  change(text: string): void {
    this.line(`   ${this.yellow('↻')} ${text}`);
  }

  fail(text: string): void {
    this.line(`   ${this.red('✗')} ${this.red(text)}`);
  }

  /** Plain text without the time column (tables, the closing words). */
  plain(text = ''): void {
    this.out.write(`${text}\n`);
  }
}
