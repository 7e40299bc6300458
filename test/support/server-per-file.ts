/** One `meshca server` shared by the tests of a file, as the CLI tests that run commands against a real CA have. */
import { afterAll, beforeAll, expect } from 'vitest';
import { isRunning, startServer, type ServerProcess } from './server-process.js';
import { tempDir } from './temp-dir.js';

export interface ServerPerFile {
  /** Its data directory, known once the file's beforeAll has run. */
  readonly dataDir: string;
  readonly server: ServerProcess;
}

/**
 * Registers the hooks that start the server on a fresh data directory for
 * trust domain example.org before the file's tests, and stop it after them,
 * checking it exits 0 and is gone. Call it inside the file's describe.
 */
export function serverPerFile(): ServerPerFile {
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    dataDir = tempDir();
    server = await startServer(['--data-dir', dataDir, '--trust-domain', 'example.org']);
  });
  afterAll(async () => {
    if (!server) return;
    expect(await server.stop()).toBe(0);
    expect(isRunning(server.pid)).toBe(false);
  });
  return {
    get dataDir() {
      return dataDir!;
    },
    get server() {
      return server!;
    },
  };
}
