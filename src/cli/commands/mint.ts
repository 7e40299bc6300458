/**
 * `meshca mint`: an operator obtains an SVID; the key is generated here and
 * never sent, or stays wherever it is and only its CSR is sent (--csr).
 */
import { open } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { createCsr } from '../../x509/csr-builder.js';
import { generateKeyPair, KEY_TYPES } from '../../x509/keys.js';
import { decodePemBlocks, encodePem, type PemBlock } from '../../x509/pem.js';
import { checkOutDirectory, holdsKey, writeCertificateFiles, writeCredentialFiles } from '../credential-files.js';
import { adminClient, cannotRead, checkChoice, checkDurations, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
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

/** Far more than a CSR of any key the CA takes; the CA refuses larger ones anyway. */
const CSR_FILE_MAX_BYTES = 64 * 1024;
const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

/**
 * The one PEM CSR in --csr, re-encoded alone: whatever else the file holds is
 * refused here, never sent (openssl req -keyout and -out to one file put the
 * private key beside the request). Any readable file will do, a pipe
 * included (--csr <(tool …)); the CA checks what the CSR says and that its
 * key signed it.
 */
async function readCsrFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readAtMost(path, CSR_FILE_MAX_BYTES);
  } catch (err) {
    refuseFlags(`--csr ${path}: ${cannotRead(err)}`);
  }
  let blocks: PemBlock[];
  try {
    blocks = decodePemBlocks(text);
  } catch (err) {
    refuseFlags(`--csr ${path}: ${(err as Error).message}`);
  }
  const other = blocks.find((b) => !CSR_LABELS.includes(b.label));
  if (other) {
    refuseFlags(`--csr ${path} holds a ${other.label} block besides the request${other.label.includes('PRIVATE KEY') ? ': a private key is never sent, so give the CSR a file of its own' : ''}`);
  }
  if (blocks.length !== 1) refuseFlags(`--csr ${path} holds ${blocks.length === 0 ? 'no PEM certificate request' : `${blocks.length} certificate requests, not one`}`);
  return encodePem('CERTIFICATE REQUEST', blocks[0]!.der);
}

/** A file's text, refused past `max` bytes; read from one open, so that a pipe or a file replaced meanwhile is read as it is. */
async function readAtMost(path: string, max: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    if ((await file.stat()).isDirectory()) throw new Error('it is a directory');
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    while (length <= max) {
      const { bytesRead } = await file.read(buffer, length, max + 1 - length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) throw new Error(`it is larger than ${max / 1024} KiB, which no CSR is`);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await file.close();
  }
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
      if (o.csr !== undefined && (await holdsKey(o.out))) {
        refuseFlags(`--out ${o.out} holds svid_key.pem, which would sit beside a certificate for another key: give --csr a directory of its own`);
      }
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
      const { svid: _chain, ...details } = res.svid;
      console.log(o.json ? JSON.stringify(details) : `${details.spiffeId} serial ${details.serial} valid until ${details.notAfter}`);
    });
}
