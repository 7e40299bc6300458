/** Starting a whole CA in-process for a test, on a free loopback port and a temporary data directory. */
import pino from 'pino';
import { startCa, type CaOverrides, type RunningCa } from '../../src/cli/ca-runtime.js';
import { loadServerConfig, type ServerConfig } from '../../src/config/server-config.js';
import type { SqliteDatastore } from '../../src/store/sqlite/datastore.js';
import { cleanupLater } from './cleanup.js';
import { tempDir } from './temp-dir.js';

/** A CA running in-process for a test, on whichever datastore: what tests that only call it need. */
export interface InProcessCa extends RunningCa {
  readonly config: ServerConfig;
  readonly url: string;
  readonly bundlePem: string;
}

/** A CA on the embedded datastore, whose SQLite handle tests may read (and tamper with) directly. */
export interface TestCa extends Omit<InProcessCa, 'store'> {
  readonly store: SqliteDatastore;
}

/** Settings by flag name, e.g. { 'svid-ttl': '20s' }. */
export type Settings = Record<string, string>;

export function testConfig(settings: Settings = {}, env: NodeJS.ProcessEnv = {}): ServerConfig {
  const flags: Record<string, string> = {};
  // Worker threads run the built JavaScript; in-process tests run the TypeScript sources, so they sign and commit
  // in-thread (test/signing/, the datastore contract and every test that starts the real server cover the threads).
  for (const [name, value] of Object.entries({ 'data-dir': tempDir(), listen: '127.0.0.1:0', 'signing-workers': '0', 'sqlite-writer': 'main', ...settings })) {
    flags[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return loadServerConfig({ flags, env });
}

export async function startTestCa(settings: Settings = {}, overrides: CaOverrides = {}, env: NodeJS.ProcessEnv = {}): Promise<TestCa> {
  const ca = await startInProcessCa(settings, overrides, env);
  return asTestCa(ca, ca.config, ca.bundlePem);
}

/** A CA on the datastore `settings` choose (embedded unless `datastore` names a PostgreSQL URL), stopped when the test ends. */
export async function startInProcessCa(settings: Settings = {}, overrides: CaOverrides = {}, env: NodeJS.ProcessEnv = {}): Promise<InProcessCa> {
  const config = testConfig(settings, env);
  const ca = await startCa(config, pino({ level: process.env.MESHCA_TEST_LOG ?? 'silent' }), { schedules: 'off', ...overrides });
  cleanupLater(() => ca.close());
  const bundle = await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' });
  return { ...ca, config, url: `https://127.0.0.1:${ca.address.port}`, bundlePem: bundle.body };
}

/** Narrows a running CA to the embedded datastore tests read directly. */
export function asTestCa(ca: RunningCa, config: ServerConfig, bundlePem: string): TestCa {
  if (ca.store.kind !== 'sqlite') throw new Error('test CAs run on the embedded datastore');
  return { ...ca, store: ca.store as SqliteDatastore, config, url: `https://127.0.0.1:${ca.address.port}`, bundlePem };
}
