/** Reaching the CA on this host through its data directory's socket, as the host's operator. */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { AdminEndpoint } from './admin-client.js';
import { CaUnreachableError } from './admin-client.js';
import { checkSocketOwner } from './data-dir-access.js';
import { socketPath } from './local-socket.js';

export function localEndpoint(dataDir: string): AdminEndpoint {
  const path = socketPath(dataDir);
  return {
    async prepare() {
      if (!existsSync(path)) {
        throw new CaUnreachableError(`no CA socket at ${path}: is \`meshca server --data-dir ${dataDir}\` running?`);
      }
      await checkSocketOwner(path, dataDir);
    },
    request: (options, onResponse) => request({ ...options, socketPath: path }, onResponse),
    failure: (err) => (err.code === 'ECONNREFUSED' ? new CaUnreachableError(`the CA at ${path} is not running (connection refused)`) : err),
  };
}
