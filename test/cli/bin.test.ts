/**
 * The commands as a user runs them: `npx meshca …` and `npx meshca-agent …`
 * execute the built files directly (no `node` in front), so the build must
 * leave them executable with a shebang. Every other CLI test runs them
 * through `node`, which would hide a file that cannot be executed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/cli.js';

const PACKAGE = JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

describe('package bins', () => {
  it.each(Object.entries(PACKAGE.bin))('%s (%s) is executable and runs on its own', (_name, path) => {
    const file = resolve(PROJECT_ROOT, path);
    expect(statSync(file).mode & 0o111).toBe(0o111);
    expect(readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const run = spawnSync(file, ['--help'], { encoding: 'utf8' });
    expect({ status: run.status, error: run.error?.message }).toEqual({ status: 0, error: undefined });
    expect(run.stdout).toMatch(/^Usage: /);
  });

  it.each(Object.entries(PACKAGE.bin))('%s --version prints the package version and exits 0', (_name, path) => {
    const run = spawnSync(resolve(PROJECT_ROOT, path), ['--version'], { encoding: 'utf8' });
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({ status: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
  });
});
