/**
 * --csr FILE (`mint`, `admin credential`): a CSR made where its key stays (an
 * HSM, another tool, the holder's own host), of which only the request is
 * ever sent.
 */
import { open } from 'node:fs/promises';
import { decodePemBlocks, encodePem, type PemBlock } from '../x509/pem.js';
import { cannotRead, refuseFlags } from './common-options.js';
import { holdsKey } from './credential-files.js';

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
export async function readCsrFile(path: string): Promise<string> {
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

/** With --csr only a certificate is written: into an --out holding a key, it would sit beside a certificate for another key. */
export async function refuseOutHoldingKey(out: string): Promise<void> {
  if (await holdsKey(out)) refuseFlags(`--out ${out} holds svid_key.pem, which would sit beside a certificate for another key: give --csr a directory of its own`);
}
