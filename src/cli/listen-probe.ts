/**
 * Whether the CA's listen addresses can be bound, asked before the start opens
 * the datastore or makes a PKI. The listeners themselves open only once the PKI exists (the TLS
 * one serves a certificate from it), so without this a first start on a port
 * another process holds made a data directory, a root and an intermediate, for
 * the trust domain of that start, and then failed: one that follows with
 * another --trust-domain is refused, the domain being fixed at creation.
 *
 * The address is bound and released at once; another process taking it in
 * between still fails the start later, as before.
 */
import { createServer } from 'node:net';
import { formatListenAddress, type ListenAddress } from '../config/parsers.js';

/** What to do about the usual reasons, beside the code. */
const REMEDIES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process listens there (`ss -ltnp` names it): stop it, or give another port',
  EADDRNOTAVAIL: 'no interface of this host has that address: give one it has',
  EACCES: 'ports below 1024 need privileges this process lacks: give a port from 1024',
};

/** Throws, naming the flag and the address, when `address` cannot be bound now (in use, not this host's, not allowed). */
export async function probeListenAddress(flag: string, address: ListenAddress): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const remedy = err.code === undefined ? undefined : REMEDIES[err.code];
      reject(new Error(`${flag} ${formatListenAddress(address)} cannot be listened on (${err.code ?? err.message})${remedy ? `: ${remedy}` : ''}; no CA was started or created`));
    });
    server.listen({ host: address.host, port: address.port }, () => server.close(() => resolve()));
  });
}
