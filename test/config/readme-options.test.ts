/**
 * The README's option tables are the configuration's documentation: every
 * setting of `meshca server` and `meshca-agent` has a row with its flag,
 * environment variable and default, and there is no row for a setting that
 * does not exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_OPTIONS } from '../../src/config/agent-config.js';
import { envName, type OptionTable } from '../../src/config/options.js';
import { SERVER_OPTIONS } from '../../src/config/server-config.js';
import { PROJECT_ROOT } from '../support/cli.js';

const README = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');

/** The rows of the option table under `heading`: flag → [environment variable, default]. */
function tableUnder(heading: string): Map<string, [string, string]> {
  const start = README.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const body = README.slice(start + heading.length + 2);
  const section = body.slice(0, body.search(/^#/m));
  const rows = new Map<string, [string, string]>();
  for (const line of section.split('\n')) {
    const cells = /^\| `--([a-z0-9-]+)` \| `([A-Z0-9_]+)` \| (`[^`]*`|–) \|/.exec(line);
    if (cells) rows.set(cells[1]!, [cells[2]!, cells[3] === '–' ? '–' : cells[3]!.slice(1, -1)]);
  }
  return rows;
}

/** What the table should say: an empty default is shown as "–", like none. */
function expectedRows(options: OptionTable, prefix: string): Map<string, [string, string]> {
  return new Map(Object.values(options).map((o) => [o.name, [envName(prefix, o.name), o.default || '–']]));
}

describe('README option tables', () => {
  it.each([
    ['### `meshca server`', SERVER_OPTIONS, 'MESHCA'],
    ['### `meshca-agent`', AGENT_OPTIONS, 'MESHCA_AGENT'],
  ] as const)('%s lists every setting with its environment variable and default', (heading, options, prefix) => {
    expect(Object.fromEntries(tableUnder(heading))).toEqual(Object.fromEntries(expectedRows(options, prefix)));
  });
});
