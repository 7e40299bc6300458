/** `meshca doctor`: exits non-zero when a root or intermediate is near expiry, the CA cannot sign, or rotation failed. */
import type { Command } from 'commander';
import { ConfigError } from '../../config/options.js';
import { DURATION_SYNTAX, parseDuration } from '../../time/duration.js';
import { AdminClient } from '../admin-client.js';
import { dataDirOption, type CommonOptions } from '../common-options.js';

/**
 * A horizon the operator typed, checked here so that a typo exits 78 naming
 * the flag, unlike a failed check (exit 1) that cron or CI must act on.
 */
function horizonProblems(o: { rootHorizon?: string; intermediateHorizon?: string }): string[] {
  return Object.entries({ 'root-horizon': o.rootHorizon, 'intermediate-horizon': o.intermediateHorizon }).flatMap(([flag, value]) => {
    if (value === undefined) return [];
    try {
      parseDuration(value);
      return [];
    } catch {
      return [`--${flag}: ${JSON.stringify(value)} is not a duration (${DURATION_SYNTAX})`];
    }
  });
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the CA for coming expiries and failed rotations; exit 1 if anything needs attention (for cron and CI)')
    .option('--root-horizon <duration>', 'report roots expiring within this (default: the CA\'s --root-expiry-horizon, 60d)')
    .option('--intermediate-horizon <duration>', 'report intermediates expiring within this (default: a sixth of each one\'s life)')
    .option('--json', 'print JSON')
    .addOption(dataDirOption())
    .action(async (o: CommonOptions & { rootHorizon?: string; intermediateHorizon?: string; json?: boolean }) => {
      const problems = horizonProblems(o);
      if (problems.length) throw new ConfigError(problems);
      const query = new URLSearchParams({
        ...(o.rootHorizon ? { rootHorizon: o.rootHorizon } : {}),
        ...(o.intermediateHorizon ? { intermediateHorizon: o.intermediateHorizon } : {}),
      });
      const res = await new AdminClient(o.dataDir).call<{ ok: boolean; findings: Array<{ status: string; check: string; message: string }> }>(
        'GET',
        `/v1/doctor${query.size ? `?${query}` : ''}`,
      );
      if (o.json) console.log(JSON.stringify(res));
      else for (const f of res.findings) console.log(`${f.status === 'ok' ? 'ok  ' : 'FAIL'}  ${f.check}: ${f.message}`);
      if (!res.ok) process.exitCode = 1;
    });
}
