/** `meshca admin credential`: a client certificate for a remote operator or auditor; the key is made here. */
import type { Command } from 'commander';
import type { SvidJson } from '../../server/svid-response.js';
import { createCsr } from '../../x509/csr-builder.js';
import { generateKeyPair } from '../../x509/keys.js';
import { adminClient, checkChoice, checkDurations, credentialOption, dataDirOption, serverOption, type CommonOptions } from '../common-options.js';
import { checkOutDirectory, writeCredentialFiles } from '../credential-files.js';

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('credentials for remote operators and auditors');
  admin
    .command('credential')
    .description('issue a mutual-TLS client certificate spiffe://<td>/meshca/admin/<role>/<name> into --out')
    .requiredOption('--role <role>', 'operator (everything) or auditor (read-only)')
    .requiredOption('--name <name>', 'who it is for')
    .requiredOption('--out <dir>', 'directory for svid.pem, svid_key.pem and bundle.pem')
    .option('--ttl <duration>', 'lifetime (at most the CA\'s --svid-max-ttl)')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { role: string; name: string; out: string; ttl?: string }) => {
      checkChoice('role', o.role, ['operator', 'auditor']);
      checkDurations({ ttl: o.ttl });
      await checkOutDirectory(o.out);
      const keys = await generateKeyPair('ec-p256');
      const res = await adminClient(o).call<{ svid: SvidJson; bundle: string }>('POST', '/v1/admin/credentials', {
        role: o.role,
        name: o.name,
        csr: await createCsr(keys.privateKey, keys.publicKey),
        ...(o.ttl ? { ttl: o.ttl } : {}),
      });
      await writeCredentialFiles(o.out, keys.privateKey, res.svid.svid, res.bundle);
      console.log(`${res.svid.spiffeId} written to ${o.out} (valid until ${res.svid.notAfter})`);
    });
}
