/**
 * A length of time in whole seconds, parsed once from text such as "30s",
 * "10m", "1h" or "365d". Inside meshca durations are never strings.
 */
import { quotedText } from '../quoted-text.js';

export type Duration = number & { readonly __unit: 'seconds' };

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^([0-9]{1,9})(s|m|h|d)$/;

/**
 * The longest duration meshca takes: longer than any lifetime, timeout or
 * retention anyone means, and short enough that every certificate date stays
 * within X.509's four-digit years.
 */
export const MAX_DURATION_SECONDS = 36_500 * 86_400;

/**
 * The text is not a duration meshca takes; the message names the text.
 * Callers add how to write one when it is `malformed` (rather than zero or
 * beyond a century, where the message says all).
 */
export class DurationSyntaxError extends Error {
  constructor(
    message: string,
    readonly malformed: boolean,
  ) {
    super(message);
  }
}

export const DURATION_SYNTAX = 'a whole number followed by s, m, h or d, e.g. 30s, 10m, 1h, 365d';

export function parseDuration(text: string): Duration {
  const match = DURATION.exec(text);
  if (!match) {
    throw new DurationSyntaxError(`${quotedText(text)} is not a duration`, true);
  }
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (seconds <= 0) throw new DurationSyntaxError(`${quotedText(text)} is not a positive duration`, false);
  if (seconds > MAX_DURATION_SECONDS) throw new DurationSyntaxError(`${quotedText(text)} is longer than a century (36500d)`, false);
  return seconds as Duration;
}

/**
 * A duration and the text its sender wrote it as ("300m"), so that a refusal
 * quotes the request back as typed rather than the "5h" it parses to. Only
 * messages read `written`; everything else computes with `seconds`.
 */
export interface WrittenDuration {
  readonly seconds: Duration;
  readonly written: string;
}

/** As parseDuration, keeping the text for messages. */
export function parseWrittenDuration(text: string): WrittenDuration {
  return { seconds: parseDuration(text), written: text };
}

/** A duration nobody wrote (a stored or configured one), written the shortest way. */
export function writtenAs(d: Duration): WrittenDuration {
  return { seconds: d, written: formatDuration(d) };
}

export function seconds(n: number): Duration {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`a duration is a positive whole number of seconds, got ${n}`);
  return n as Duration;
}

/** The shortest exact rendering: 3600 → "1h", 90 → "90s". */
export function formatDuration(d: Duration): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (d % size === 0) return `${d / size}${unit}`;
  }
  return `${d}s`;
}
