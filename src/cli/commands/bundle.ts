/** `meshca bundle`: prints the trust bundle, for handing to agents (e.g. into a Kubernetes ConfigMap). */
import type { Command } from 'commander';
import { adminClient, checkChoice, credentialOption, dataDirOption, serverOption, type CommonOptions } from '../common-options.js';

export function registerBundle(program: Command): void {
  program
    .command('bundle')
    .description('print the trust bundle: PEM roots by default, or the SPIFFE bundle (JWK set) with --format spiffe')
    .option('--format <format>', 'pem or spiffe', 'pem')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { format: string }) => {
      checkChoice('format', o.format, ['pem', 'spiffe']);
      const res = await adminClient(o).raw('GET', o.format === 'pem' ? '/v1/bundle.pem' : '/v1/bundle');
      if (res.status !== 200) throw new Error(`the CA answered ${res.status}: ${res.body}`);
      process.stdout.write(o.format === 'pem' ? res.body : `${res.body}\n`);
    });
}
