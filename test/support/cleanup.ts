/**
 * Cleanup for whatever a test starts: inside a test it runs when the test ends;
 * inside beforeAll it runs after the file's last test (see setup.ts).
 */
import { onTestFinished } from 'vitest';

const pendingForFile: Array<() => unknown> = [];

export function cleanupLater(fn: () => unknown): void {
  try {
    onTestFinished(async () => {
      await fn();
    });
  } catch {
    pendingForFile.push(fn);
  }
}

export async function runFileCleanups(): Promise<void> {
  while (pendingForFile.length) await pendingForFile.pop()!();
}
