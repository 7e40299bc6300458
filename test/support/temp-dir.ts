import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupLater } from './cleanup.js';

/** A fresh directory removed when the current test finishes. Short, because unix socket paths are limited to 107 bytes. */
export function tempDir(prefix = 'mc'): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  cleanupLater(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
