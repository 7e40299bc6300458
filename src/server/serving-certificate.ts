/**
 * The CA's own TLS certificate: an SVID for spiffe://<td>/meshca/server with
 * DNS and IP SANs for its listen address, issued by the active intermediate
 * with a key that never leaves memory, and renewed at half of its life.
 */
import { SELF } from '../ca/caller.js';
import type { SvidIssuer } from '../ca/svid-issuer.js';
import type { ListenAddress } from '../config/parsers.js';
import type { ServingNames } from '../config/server-config.js';
import { parseDnsName, type DnsName } from '../identity/dns-name.js';
import { serverSpiffeId } from '../identity/meshca-identity.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { writtenAs, type Duration } from '../time/duration.js';
import { createCsr } from '../x509/csr-builder.js';
import { VerifiedCsr } from '../x509/csr.js';
import { looksLikeIpAddress, parseIpAddress, type IpAddress } from '../x509/ip-address.js';
import { generateKeyPair } from '../x509/keys.js';
import { certificatesToPem } from '../x509/pem.js';

export interface ServingCredentials {
  readonly keyPem: string;
  readonly chainPem: string;
  readonly serial: string;
  readonly issuerId: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

const LOOPBACK = ['127.0.0.1', '::1'].map(parseIpAddress);

/**
 * Names a client may use to reach the listener: always localhost and
 * loopback, the listen host unless it is a wildcard, and the configured extra
 * names (the Service name in Kubernetes, a load balancer's name). An address
 * written twice, in two spellings, is one SAN.
 */
export function servingNames(listen: ListenAddress, extra: ServingNames = { dnsNames: [], ipAddresses: [] }): { dnsNames: DnsName[]; ipAddresses: Buffer[] } {
  const ips = [...LOOPBACK, ...extra.ipAddresses];
  const dns = new Set<DnsName>([parseDnsName('localhost'), ...extra.dnsNames]);
  if (looksLikeIpAddress(listen.host)) {
    const host = parseIpAddress(listen.host);
    if (!host.unspecified) ips.push(host);
  } else {
    dns.add(parseDnsName(listen.host));
  }
  return { dnsNames: [...dns], ipAddresses: distinctOctets(ips) };
}

/** One SAN per address however it was spelt, each a copy: the parsed addresses live on in the config. */
function distinctOctets(ips: readonly IpAddress[]): Buffer[] {
  const byHex = new Map<string, Buffer>();
  for (const ip of ips) {
    const hex = ip.octets.toString('hex');
    if (!byHex.has(hex)) byHex.set(hex, Buffer.from(ip.octets));
  }
  return [...byHex.values()];
}

export class ServingCertificate {
  private current: ServingCredentials | undefined;

  constructor(
    private readonly deps: { issuer: SvidIssuer; clock: Clock },
    private readonly settings: { trustDomain: TrustDomain; listen: ListenAddress; ttl: Duration; extraNames?: ServingNames },
  ) {}

  credentials(): ServingCredentials {
    if (!this.current) throw new Error('the serving certificate has not been issued yet');
    return this.current;
  }

  async issue(): Promise<ServingCredentials> {
    const keys = await generateKeyPair('ec-p256');
    const csr = await VerifiedCsr.parse(await createCsr(keys.privateKey, keys.publicKey));
    const svid = await this.deps.issuer.issue({
      csr,
      spiffeId: serverSpiffeId(this.settings.trustDomain),
      ...servingNames(this.settings.listen, this.settings.extraNames),
      ttl: writtenAs(this.settings.ttl),
      kind: 'server',
      requestedBy: SELF,
    });
    this.current = {
      keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      chainPem: certificatesToPem(svid.chainDer),
      serial: svid.serial,
      issuerId: svid.issuerId,
      notBefore: svid.notBefore,
      notAfter: svid.notAfter,
    };
    return this.current;
  }

  /** True when half of the current certificate's life has passed, or another intermediate signs now. */
  isDue(signingIntermediateId?: string): boolean {
    if (!this.current) return true;
    if (signingIntermediateId && signingIntermediateId !== this.current.issuerId) return true;
    const half = this.current.notBefore + Math.floor((this.current.notAfter - this.current.notBefore) / 2);
    return nowSeconds(this.deps.clock) >= half;
  }
}
