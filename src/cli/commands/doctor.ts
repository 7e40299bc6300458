/** `meshca doctor`: exits non-zero when a root or intermediate is near expiry, the CA cannot sign, or rotation failed. */
import type { Command } from 'commander';
import { adminClient, checkDurations, credentialOption, dataDirOption, serverOption, type CommonOptions } from '../common-options.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the CA for coming expiries and failed rotations; exit 1 if anything needs attention (for cron and CI)')
    .option('--root-horizon <duration>', 'report roots expiring within this (default: the CA\'s --root-expiry-horizon, 60d)')
    .option('--intermediate-horizon <duration>', 'report intermediates expiring within this (default: a sixth of each one\'s life)')
    .option('--json', 'print JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { rootHorizon?: string; intermediateHorizon?: string; json?: boolean }) => {
      // A typo exits 78 naming the flag, unlike a failed check (exit 1) that cron or CI must act on.
      checkDurations({ 'root-horizon': o.rootHorizon, 'intermediate-horizon': o.intermediateHorizon });
      const query = new URLSearchParams({
        ...(o.rootHorizon ? { rootHorizon: o.rootHorizon } : {}),
        ...(o.intermediateHorizon ? { intermediateHorizon: o.intermediateHorizon } : {}),
      });
      const res = await adminClient(o).call<{ ok: boolean; findings: Array<{ status: string; check: string; message: string }> }>(
        'GET',
        `/v1/doctor${query.size ? `?${query}` : ''}`,
      );
      if (o.json) console.log(JSON.stringify(res));
      else for (const f of res.findings) console.log(`${f.status === 'ok' ? 'ok  ' : 'FAIL'}  ${f.check}: ${f.message}`);
      if (!res.ok) process.exitCode = 1;
    });
}
