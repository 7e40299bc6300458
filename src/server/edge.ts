/** Turning request fields into meshca's typed values; every failure is a 400 with its own code. */
import { InvalidInputError } from '../errors.js';
import { parseDnsName, type DnsName } from '../identity/dns-name.js';
import { DurationSyntaxError, parseDuration, seconds, type Duration } from '../time/duration.js';

export function ttlField(value: string | number | undefined): Duration | undefined {
  if (value === undefined) return undefined;
  try {
    return typeof value === 'number' ? seconds(value) : parseDuration(value);
  } catch (err) {
    if (err instanceof DurationSyntaxError || err instanceof RangeError) throw new InvalidInputError('invalid_ttl', `ttl: ${err.message}`);
    throw err;
  }
}

export function dnsNamesField(values: readonly string[] | undefined): DnsName[] {
  return (values ?? []).map(parseDnsName);
}

export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}
