/** Turning request fields into meshca's typed values; every failure is a 400 with its own code. */
import { InvalidInputError } from '../errors.js';
import { DEFAULT_PAGE, MAX_PAGE } from '../ca/page-size.js';
import { parseDnsName, type DnsName } from '../identity/dns-name.js';
import { DURATION_SYNTAX, DurationSyntaxError, parseDuration, parseWrittenDuration, seconds, type Duration, type WrittenDuration } from '../time/duration.js';
import { quotedText } from '../quoted-text.js';

/**
 * A lifetime, sent as a duration string ("90s") or a JSON integer of seconds.
 * A refusal says how to write what was sent: a string of bare seconds ("300")
 * is no duration, so telling a string's sender "or whole seconds" would
 * suggest the very value just refused. It keeps what was sent, for a later
 * refusal (above the CA's maximum) to quote: "300m"; 18000 as "18000s".
 */
export function ttlField(value: string | number | undefined): WrittenDuration | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value <= 0) throw new InvalidInputError('invalid_ttl', `ttl: ${value} is not a positive whole number of seconds`);
    return { seconds: seconds(value), written: `${value}s` };
  }
  try {
    return parseWrittenDuration(value);
  } catch (err) {
    if (err instanceof DurationSyntaxError) {
      throw new InvalidInputError('invalid_ttl', `ttl: ${err.message} (a string is ${DURATION_SYNTAX}; whole seconds are sent as a JSON integer)`);
    }
    throw err;
  }
}

/** A duration in a query string, which carries only strings; the refusal names the parameter. */
export function durationQuery(name: string, value: string | undefined): Duration | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof DurationSyntaxError) throw new InvalidInputError('invalid_ttl', `${name}: ${err.message} (${DURATION_SYNTAX})`);
    throw err;
  }
}

/**
 * Text the caller sent, quoted in a refusal: escaped (quotedText), and cut to
 * its first `max` characters, since refusals reach logs and the audit log.
 */
export function quotedInput(text: string, max = 64): string {
  return clipped(text, max, quotedText);
}

/** Text cut to its first `max` characters, saying how long it was; `quote` shapes the part kept. */
export function clipped(text: string, max: number, quote: (kept: string) => string = (kept) => kept): string {
  return text.length <= max ? quote(text) : `${quote(text.slice(0, max))}… (${text.length} characters)`;
}

/** Each name once, as it will be on the certificate: "X.COM" and "x.com" are one SAN. */
export function dnsNamesField(values: readonly string[] | undefined): DnsName[] {
  return [...new Set((values ?? []).map(parseDnsName))];
}

/**
 * A serial as the CA records it: lowercase hex of its bytes without leading
 * zero bytes, whatever case and however many leading zero digits it was typed
 * with. Stripping every leading zero digit alone would turn a stored "05ab"
 * into "5ab", which matches nothing.
 */
export function serialField(typed: string): string {
  const digits = typed.toLowerCase().replace(/^0+(?=.)/, '');
  return digits.length % 2 === 1 ? `0${digits}` : digits;
}

/** A listing's `limit`: the default page when absent, refused above the largest. */
export function pageLimit(limit: string | undefined): number {
  const n = Number(limit ?? DEFAULT_PAGE);
  if (n > MAX_PAGE) throw new InvalidInputError('invalid_request', `limit must be at most ${MAX_PAGE}`);
  return n;
}

export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

/** RFC 3339: a date, or a date and time with a zone (Z or an offset); never the server's local time. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2})))?$/;

/** Milliseconds since the epoch, or NaN for a value that is not RFC 3339 or names an impossible date or time. */
function rfc3339Millis(value: string): number {
  const m = RFC3339.exec(value.toUpperCase());
  if (!m) return NaN;
  const [year, month, day, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] = m.slice(1).map((f) => (f === undefined ? undefined : Number(f)));
  // Date would roll 2026-11-31 over to 2026-12-01; a date that does not survive the trip did not exist.
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month! - 1 && date.getUTCDate() === day;
  if (!real || hour > 23 || minute > 59 || second > 60 || offsetHours > 23 || offsetMinutes > 59) return NaN;
  return Date.parse(value.toUpperCase());
}

/**
 * An audit event's number from a query: 0 or a whole number without leading
 * zeros, up to 2^53 - 1 (the largest a log's numbers can exactly be here).
 */
export function sequenceField(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seq = /^(0|[1-9][0-9]*)$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(seq)) {
    throw new InvalidInputError('invalid_request', `${name}: ${quotedText(value.slice(0, 20))} is not an event number (a whole number from 0 to 2^53 - 1)`);
  }
  return seq;
}

/** A point in time from a query: RFC 3339, a bare date (its midnight UTC), or whole seconds since the epoch. */
export function timeField(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^[0-9]{1,12}$/.test(value) ? Number(value) * 1000 : rfc3339Millis(value);
  if (!Number.isFinite(ms)) {
    throw new InvalidInputError('invalid_request', `${name}: ${quotedText(value.slice(0, 40))} is not a time (use RFC 3339, e.g. 2026-11-25T12:00:00Z, a date, 2026-11-25 for its midnight UTC, or seconds since the epoch)`);
  }
  return Math.floor(ms / 1000);
}
