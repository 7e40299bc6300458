/**
 * Settings a CA starts with that are legal but most likely not what was meant:
 * said at warning level at start, because each is hard to undo later.
 */
import type { ServerConfig } from '../config/server-config.js';
import { looksLikeIpAddress, parseIpAddress } from '../x509/ip-address.js';

export interface StartWarning {
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/** `created`: this start made the CA (its first), when its trust domain was set for good. */
export function startWarnings(config: ServerConfig, created: boolean): StartWarning[] {
  const warnings: StartWarning[] = [];
  const host = config.listen.host;
  const everyInterface = looksLikeIpAddress(host) && parseIpAddress(host).unspecified;
  const named = config.servingNames.dnsNames.length + config.servingNames.ipAddresses.length > 0;
  if (everyInterface && !named) {
    warnings.push({
      fields: { listen: host },
      message:
        'listening on every interface, but the serving certificate names only localhost and the loopback addresses: ' +
        'agents on other hosts will refuse the CA; give the names and addresses they dial in --serving-names',
    });
  }
  // Said whether the name was given or defaulted: a CA of a documentation domain is a trial either way.
  if (created && config.trustDomain.name === 'example.org') {
    warnings.push({
      fields: { trustDomain: config.trustDomain.name },
      message:
        'created a CA for the trust domain example.org, a name reserved for examples (RFC 2606) and the default; it is in every certificate this CA makes and cannot change. ' +
        'For anything but a trial, start again in a new data directory with --trust-domain',
    });
  }
  return warnings;
}
