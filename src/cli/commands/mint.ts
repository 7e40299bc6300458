/**
 * `meshca mint`: an operator obtains an SVID; the key is generated here and
 * never sent, or stays wherever it is and only its CSR is sent (--csr).
 */
import { readFile, stat } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { createCsr } from '../../x509/csr-builder.js';
import { generateKeyPair, KEY_TYPES } from '../../x509/keys.js';
import { holdsKey, writeCertificateFiles, writeCredentialFiles } from '../credential-files.js';
import { adminClient, checkChoice, checkDurations, collect, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import type { SvidJson } from '../../server/svid-response.js';

interface MintOptions extends CommonOptions {
  spiffeId: string;
  out: string;
  ttl?: string;
  dns: string[];
  keyType: string;
  csr?: string;
  json?: boolean;
}

/** Far more than a CSR of any key the CA takes; the CA refuses larger ones anyway. */
const CSR_FILE_MAX_BYTES = 64 * 1024;

/** The PEM CSR in --csr, read here: the CA checks what it says, and that its key signed it. */
async function readCsrFile(path: string): Promise<string> {
  const size = await stat(path).then(
    (s) => (s.isFile() ? s.size : refuseFlags(`--csr ${path} is not a regular file`)),
    (err: NodeJS.ErrnoException) => refuseFlags(`--csr ${path}: cannot read it (${err.code})`),
  );
  if (size > CSR_FILE_MAX_BYTES) refuseFlags(`--csr ${path} is larger than ${CSR_FILE_MAX_BYTES / 1024} KiB: no CSR is`);
  return readFile(path, 'utf8');
}

export function registerMint(program: Command): void {
  program
    .command('mint')
    .description('issue an SVID for any identity of the trust domain and write svid.pem, svid_key.pem (unless --csr) and bundle.pem')
    .requiredOption('--spiffe-id <id>', 'SPIFFE ID to issue, e.g. spiffe://example.org/ns/web')
    .requiredOption('--out <dir>', 'directory to write the files to')
    .option('--ttl <duration>', 'lifetime, e.g. 1h (default: the CA\'s --svid-ttl)')
    .option('--dns <name>', 'DNS SAN (repeatable)', collect, [])
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
      if (o.csr !== undefined && (await holdsKey(o.out))) {
        refuseFlags(`--out ${o.out} holds svid_key.pem, which would sit beside a certificate for another key: give --csr a directory of its own`);
      }
      const keys = o.csr === undefined ? await generateKeyPair(o.keyType) : undefined;
      const csr = keys ? await createCsr(keys.privateKey, keys.publicKey) : await readCsrFile(o.csr!);
      const res = await adminClient(o).call<{ svid: SvidJson; bundle: string }>('POST', '/v1/svids/mint', {
        spiffeId: o.spiffeId,
        csr,
        ...(o.ttl ? { ttl: o.ttl } : {}),
        dns: o.dns,
      });
      if (keys) await writeCredentialFiles(o.out, keys.privateKey, res.svid.svid, res.bundle);
      else await writeCertificateFiles(o.out, res.svid.svid, res.bundle);
      const { svid: _chain, ...details } = res.svid;
      console.log(o.json ? JSON.stringify(details) : `${details.spiffeId} serial ${details.serial} valid until ${details.notAfter}`);
    });
}
