/**
 * `meshca mint`: an operator obtains an SVID; the key is generated here and
 * never sent, or stays wherever it is and only its CSR is sent (--csr).
 */
import { Option, type Command } from 'commander';
import { createCsr } from '../../x509/csr-builder.js';
import { generateKeyPair, KEY_TYPES } from '../../x509/keys.js';
import { checkOutDirectory, issuedDetailsJson, writeCertificateFiles, writeCredentialFiles } from '../credential-files.js';
import { adminClient, checkChoice, checkDurations, credentialOption, dataDirOption, serverOption, type CommonOptions } from '../common-options.js';
import { readCsrFile, refuseOutHoldingKey } from '../csr-file.js';
import { collect } from '../flag-repetition.js';
import type { SvidJson } from '../../server/svid-response.js';

interface MintOptions extends CommonOptions {
  spiffeId: string;
  out: string;
  ttl?: string;
  /** Undefined without --dns. */
  dns?: string[];
  keyType: string;
  csr?: string;
  json?: boolean;
}

export function registerMint(program: Command): void {
  program
    .command('mint')
    .description('issue an SVID for any identity of the trust domain and write svid.pem, svid_key.pem (unless --csr) and bundle.pem')
    .requiredOption('--spiffe-id <id>', 'SPIFFE ID to issue, e.g. spiffe://example.org/ns/web')
    .requiredOption('--out <dir>', 'directory to write the files to')
    .option('--ttl <duration>', 'lifetime, e.g. 1h (default: the CA\'s --svid-ttl)')
    .option('--dns <name>', 'DNS SAN (repeatable)', collect)
    .option('--key-type <type>', `key type: ${KEY_TYPES.join(', ')}`, 'ec-p256')
    .addOption(
      new Option('--csr <file>', 'sign this PEM CSR instead, whose key stays where it is: writes svid.pem and bundle.pem only').conflicts('keyType'),
    )
    .option('--json', 'print the issued SVID\'s details as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: MintOptions) => {
      checkDurations({ ttl: o.ttl });
      checkChoice('key-type', o.keyType, KEY_TYPES);
      await checkOutDirectory(o.out);
      if (o.csr !== undefined) await refuseOutHoldingKey(o.out);
      const keys = o.csr === undefined ? await generateKeyPair(o.keyType) : undefined;
      const csr = keys ? await createCsr(keys.privateKey, keys.publicKey) : await readCsrFile(o.csr!);
      const res = await adminClient(o).call<{ svid: SvidJson; bundle: string }>('POST', '/v1/svids/mint', {
        spiffeId: o.spiffeId,
        csr,
        ...(o.ttl ? { ttl: o.ttl } : {}),
        dns: o.dns ?? [],
      });
      if (keys) await writeCredentialFiles(o.out, keys.privateKey, res.svid.svid, res.bundle);
      else await writeCertificateFiles(o.out, res.svid.svid, res.bundle);
      console.log(o.json ? issuedDetailsJson(res.svid) : `${res.svid.spiffeId} serial ${res.svid.serial} valid until ${res.svid.notAfter}`);
    });
}
