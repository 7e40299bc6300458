/**
 * How a refusal of what was typed is headed (exit 78): an admin command's
 * own flags under that command's name, `invalid arguments`; the server's
 * settings as its configuration. Each is refused before any CA is asked.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMeshca } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;

describe('the heading of a refused command line', () => {
  it.each([
    {
      name: 'a flag value the command checks itself',
      args: ['token', 'list', '--limit', 'x'],
      stderr: 'meshca token list: invalid arguments:\n  - --limit: "x" is not a positive integer\n',
    },
    {
      name: 'a flag given twice, refused while commander parses it',
      args: ['token', 'create', '--agent', 'a', '--agent', 'b'],
      stderr: 'meshca token create: invalid arguments:\n  - --agent given twice ("a", then "b"): give it once\n',
    },
    {
      name: 'an --out no directory can be made at',
      args: ['mint', '--spiffe-id', 'spiffe://example.org/a', '--out', '/proc/meshca-mint/out'],
      stderr:
        'meshca mint: invalid arguments:\n  - --out /proc/meshca-mint/out cannot be made: cannot make directory /proc/meshca-mint (ENOENT): ' +
        '/proc takes no new directories (a file system such as /proc), or was removed meanwhile\n',
    },
    {
      name: "the server's settings stay its configuration",
      args: ['server', '--listen', 'nope'],
      stderr: 'meshca: invalid configuration:\n  - --listen: "nope" is not host:port (expected host:port, e.g. 127.0.0.1:8443)\n',
    },
  ])('fail/$name', async ({ args, stderr }) => {
    const res = await runMeshca([...args, '--data-dir', join(tempDir(), 'data')]);
    expect({ code: res.code, stdout: res.stdout, stderr: res.stderr }).toEqual({ code: EX_CONFIG, stdout: '', stderr });
  });
});
