/**
 * A CA that can be stopped and started again as the same CA: the same data
 * directory (its keys, entries and agents) and the same port, as after a
 * process restart or a host outage.
 */
import { startTestCa, type Settings, type TestCa } from './test-ca.js';

/** Starts a CA on `dataDir` listening on 127.0.0.1:`port` (closed when the test or file ends). */
export function startCaAt(dataDir: string, port: number, settings: Settings = {}): Promise<TestCa> {
  return startTestCa({ ...settings, 'data-dir': dataDir, listen: `127.0.0.1:${port}` });
}
