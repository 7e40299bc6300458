/** Turning request fields into meshca's typed values; every failure is a 400 with its own code. */
import { InvalidInputError } from '../errors.js';
import { parseDnsName, type DnsName } from '../identity/dns-name.js';
import { DURATION_SYNTAX, DurationSyntaxError, parseDuration, seconds, type Duration } from '../time/duration.js';

export function ttlField(value: string | number | undefined): Duration | undefined {
  if (value === undefined) return undefined;
  try {
    return typeof value === 'number' ? seconds(value) : parseDuration(value);
  } catch (err) {
    if (err instanceof DurationSyntaxError || err instanceof RangeError) {
      throw new InvalidInputError('invalid_ttl', `ttl: ${err.message} (use ${DURATION_SYNTAX}, or whole seconds)`);
    }
    throw err;
  }
}

export function dnsNamesField(values: readonly string[] | undefined): DnsName[] {
  return (values ?? []).map(parseDnsName);
}

export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

/** A point in time from a query: RFC 3339 / ISO 8601, or whole seconds since the epoch. */
export function timeField(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^[0-9]{1,12}$/.test(value) ? Number(value) * 1000 : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidInputError('invalid_request', `${name}: ${JSON.stringify(value.slice(0, 40))} is not a time (use 2026-11-25T12:00:00Z or seconds since the epoch)`);
  }
  return Math.floor(ms / 1000);
}
