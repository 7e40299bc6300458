/** `meshca mint`: an operator on the CA host obtains an SVID; the key is generated here and never sent. */
import type { Command } from 'commander';
import { createCsr } from '../../x509/csr-builder.js';
import { generateKeyPair, KEY_TYPES } from '../../x509/keys.js';
import { writeCredentialFiles } from '../credential-files.js';
import { adminClient, checkChoice, checkDurations, collect, credentialOption, dataDirOption, serverOption, type CommonOptions } from '../common-options.js';
import type { SvidJson } from '../../server/svid-response.js';

interface MintOptions extends CommonOptions {
  spiffeId: string;
  out: string;
  ttl?: string;
  dns: string[];
  keyType: string;
  json?: boolean;
}

export function registerMint(program: Command): void {
  program
    .command('mint')
    .description('issue an SVID for any identity of the trust domain and write svid.pem, svid_key.pem and bundle.pem')
    .requiredOption('--spiffe-id <id>', 'SPIFFE ID to issue, e.g. spiffe://example.org/ns/web')
    .requiredOption('--out <dir>', 'directory to write the files to')
    .option('--ttl <duration>', 'lifetime, e.g. 1h (default: the CA\'s --svid-ttl)')
    .option('--dns <name>', 'DNS SAN (repeatable)', collect, [])
    .option('--key-type <type>', `key type: ${KEY_TYPES.join(', ')}`, 'ec-p256')
    .option('--json', 'print the issued SVID\'s details as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: MintOptions) => {
      checkDurations({ ttl: o.ttl });
      checkChoice('key-type', o.keyType, KEY_TYPES);
      const keys = await generateKeyPair(o.keyType);
      const csr = await createCsr(keys.privateKey, keys.publicKey);
      const res = await adminClient(o).call<{ svid: SvidJson; bundle: string }>('POST', '/v1/svids/mint', {
        spiffeId: o.spiffeId,
        csr,
        ...(o.ttl ? { ttl: o.ttl } : {}),
        dns: o.dns,
      });
      await writeCredentialFiles(o.out, keys.privateKey, res.svid.svid, res.bundle);
      const { svid: _chain, ...details } = res.svid;
      console.log(o.json ? JSON.stringify(details) : `${details.spiffeId} serial ${details.serial} valid until ${details.notAfter}`);
    });
}
