/** Reaching the CA on this host through its data directory's socket, as the host's operator. */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { AdminEndpoint } from './admin-client.js';
import { CaUnreachableError } from './admin-client.js';
import { checkSocketOwner } from './data-dir-access.js';
import { trustedDataDir } from './data-dir-path.js';
import { addressableSocketPath, socketPath } from './local-socket.js';

export function localEndpoint(dataDir: string): AdminEndpoint {
  const named = socketPath(dataDir);
  let path = named;
  return {
    async prepare() {
      if (!existsSync(named)) {
        throw new CaUnreachableError(`no CA socket at ${named}: is \`meshca server --data-dir ${dataDir}\` running?`);
      }
      const real = await trustedDataDir(dataDir);
      // Connected to through the path checked, resolved (see data-dir-path.ts), unless that is too long for a unix socket's address.
      path = addressableSocketPath(real, dataDir) ?? named;
      await checkSocketOwner(path, real);
    },
    request: (options, onResponse) => request({ ...options, socketPath: path }, onResponse),
    failure: (err) => (err.code === 'ECONNREFUSED' ? new CaUnreachableError(`the CA at ${path} is not running (connection refused)`) : err),
  };
}
