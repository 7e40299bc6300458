/**
 * `meshca doctor` tells a mistyped flag (exit 78, naming the flag) and a CA
 * that does not answer (exit 69) from a check that failed (exit 1), so cron
 * and CI can act on the difference. No CA runs here.
 */
import { describe, expect, it } from 'vitest';
import { runMeshca } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;
const EX_UNAVAILABLE = 69;

describe('meshca doctor flags', () => {
  it.each([
    { name: 'a root horizon that is not a duration', args: ['--root-horizon', 'bogus'], problems: ['--root-horizon: "bogus" is not a duration'] },
    { name: 'an intermediate horizon that is not a duration', args: ['--intermediate-horizon', '5x'], problems: ['--intermediate-horizon: "5x" is not a duration'] },
    {
      name: 'both at once, listed together',
      args: ['--root-horizon', '60', '--intermediate-horizon', 'soon'],
      problems: ['--root-horizon: "60" is not a duration', '--intermediate-horizon: "soon" is not a duration'],
    },
    { name: 'a horizon beyond a century, called that', args: ['--root-horizon', '36501d'], problems: ['--root-horizon: "36501d" is longer than a century (36500d)\n'] },
    { name: 'a horizon of zero, called that', args: ['--intermediate-horizon', '0s'], problems: ['--intermediate-horizon: "0s" is not a positive duration\n'] },
  ])('fail/$name -> exit 78 naming the flag', async ({ args, problems }) => {
    const res = await runMeshca(['doctor', ...args, '--data-dir', tempDir()]);
    expect(res.code).toBe(EX_CONFIG);
    for (const problem of problems) expect(res.stderr).toContain(problem);
  });

  it.each([[[]], [['--json']]])('fail/with no CA running (%j) -> exit 69, saying so on stderr, nothing on stdout', async (args) => {
    const dataDir = tempDir();
    const res = await runMeshca(['doctor', ...args, '--data-dir', dataDir]);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_UNAVAILABLE, stdout: '' });
    expect(res.stderr).toContain('no CA socket at');
  });
});
