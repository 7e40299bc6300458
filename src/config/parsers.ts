/** Parsers for configuration values; each throws an Error that says what is wrong. */
import { BlockList, isIP } from 'node:net';
import { parseDnsName } from '../identity/dns-name.js';
import { TrustDomain } from '../identity/trust-domain.js';
import { looksLikeIpAddress, parseIpAddress } from '../x509/ip-address.js';
import { parseDuration, type Duration } from '../time/duration.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * "host:port", "[v6]:port"; port 0 asks the system for a free port. The host
 * is read as the serving certificate reads it (servingNames): an IP address
 * when it looks like one, strictly, or else a DNS name. A host that is
 * neither is refused here, where it is a configuration error, rather than
 * when the listener is bound or certified, after the CA has made its PKI.
 */
export function parseListenAddress(raw: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(raw);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || !host || port > 65535) throw new Error(`"${raw}" is not host:port`);
  if (match[1]) {
    if (!looksLikeIpAddress(match[1]) || parseIpAddress(match[1]).octets.length !== 16) throw new Error(`"${match[1]}" is not an IPv6 address`);
  } else if (looksLikeIpAddress(host)) {
    parseIpAddress(host);
  } else if (parseDnsName(host).startsWith('*.')) {
    throw new Error(`"${host}" is a wildcard, which names no one host to listen on`);
  }
  return { host, port };
}

export function formatListenAddress(a: ListenAddress): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4'); // also matches IPv4-mapped IPv6 (::ffff:127.0.0.1)
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether a listener on `host` is reachable from this host only: an address
 * in 127.0.0.0/8, ::1 (in any spelling), or "localhost". Any other name is
 * taken as reachable from elsewhere, since what it resolves to is not known here.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

export const parseTrustDomain = (raw: string): TrustDomain => TrustDomain.parse(raw);
export const parseDurationValue = (raw: string): Duration => parseDuration(raw);

/** The CA's address for its clients (the agent's --server, the CLI's --server): https only, since they authenticate it. */
export function parseServerUrl(raw: string): URL {
  // "ca.example:8443" parses as a URL of scheme "ca.example:", and "127.0.0.1:8443" as none: either way the scheme was left out.
  if (!raw.includes('://') && !/[\s@/?#]/.test(raw)) throw new Error(`"${raw}" is not a URL: write the CA's address as https://${raw}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`"${raw}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw new Error(`"${raw}" must be an https:// URL`);
  // Only where the CA is: a path, query or fragment would be dropped, and a user and password sent to it in the clear of a header.
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    throw new Error(`"${url.origin}…" must be the CA's address alone, https://HOST[:PORT], without a user, path, query or fragment`);
  }
  return url;
}

export function parseNonEmpty(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function parseLogLevel(raw: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new Error(`"${raw}" is not a log level`);
  return raw as LogLevel;
}

export function parsePositiveInt(raw: string): number {
  if (!/^[0-9]{1,9}$/.test(raw) || Number(raw) === 0) throw new Error(`"${raw}" is not a positive integer`);
  return Number(raw);
}

