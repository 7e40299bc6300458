/**
 * `meshca admin credential`: a client certificate for a remote operator or
 * auditor; `meshca admin renew`: its holder renews it. The key is made here,
 * and only its CSR is sent; or, with `admin credential --csr`, it is made by
 * the holder and never seen here, so that the operator who issues the
 * credential cannot act as its holder.
 */
import type { Command } from 'commander';
import type { SvidJson } from '../../server/svid-response.js';
import { createCsr } from '../../x509/csr-builder.js';
import { generateKeyPair } from '../../x509/keys.js';
import { adminClient, checkChoice, checkDurations, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { checkOutDirectory, issuedDetailsJson, writeCertificateFiles, writeCredentialFiles } from '../credential-files.js';
import { readCsrFile, refuseOutHoldingKey } from '../csr-file.js';

interface IssuedCredential {
  svid: SvidJson;
  bundle: string;
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('credentials for remote operators and auditors');
  admin
    .command('credential')
    .description('issue a mutual-TLS client certificate spiffe://<td>/meshca/admin/<role>/<name> into --out')
    .requiredOption('--role <role>', 'operator (everything) or auditor (read-only)')
    .requiredOption('--name <name>', 'who it is for')
    .requiredOption('--out <dir>', 'directory for svid.pem, svid_key.pem (unless --csr) and bundle.pem')
    .option('--ttl <duration>', 'lifetime (at most the CA\'s --svid-max-ttl)')
    .option('--csr <file>', 'the holder\'s PEM CSR, whose key stays with the holder: writes svid.pem and bundle.pem only')
    .option('--json', 'print the credential\'s details (spiffeId, serial, notBefore, notAfter, renewAfter) as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { role: string; name: string; out: string; ttl?: string; csr?: string; json?: boolean }) => {
      checkChoice('role', o.role, ['operator', 'auditor']);
      checkDurations({ ttl: o.ttl });
      await checkOutDirectory(o.out);
      if (o.csr !== undefined) await refuseOutHoldingKey(o.out);
      const keys = o.csr === undefined ? await generateKeyPair('ec-p256') : undefined;
      const res = await adminClient(o).call<IssuedCredential>('POST', '/v1/admin/credentials', {
        role: o.role,
        name: o.name,
        csr: keys ? await createCsr(keys.privateKey, keys.publicKey) : await readCsrFile(o.csr!),
        ...(o.ttl ? { ttl: o.ttl } : {}),
      });
      if (keys) await writeCredentialFiles(o.out, keys.privateKey, res.svid.svid, res.bundle);
      else await writeCertificateFiles(o.out, res.svid.svid, res.bundle);
      console.log(o.json ? issuedDetailsJson(res.svid) : `${res.svid.spiffeId} written to ${o.out} (valid until ${res.svid.notAfter})${keys ? '' : ': give svid.pem and bundle.pem to its holder, to put beside the key'}`);
    });

  admin
    .command('renew')
    .description('renew the credential in --credential with itself, for the same role and name and a new key, written over it')
    .option('--ttl <duration>', 'lifetime (at most the CA\'s --svid-max-ttl)')
    .option('--json', 'print the new credential\'s details (spiffeId, serial, notBefore, notAfter, renewAfter) as JSON')
    // --data-dir only so that a MESHCA_DATA_DIR set beside MESHCA_SERVER is refused as for every command (chooseCa).
    .addOption(dataDirOption().hideHelp())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { ttl?: string; json?: boolean }) => {
      if (o.server === undefined) {
        refuseFlags('admin renew renews the credential it presents to the CA: give --server (or MESHCA_SERVER) and --credential DIR; the CA host\'s operator holds no credential to renew');
      }
      checkDurations({ ttl: o.ttl });
      const dir = o.credential!;
      await checkOutDirectory(dir, '--credential');
      const keys = await generateKeyPair('ec-p256');
      const res = await adminClient(o).call<IssuedCredential>('POST', '/v1/admin/credentials/renew', {
        csr: await createCsr(keys.privateKey, keys.publicKey),
        ...(o.ttl ? { ttl: o.ttl } : {}),
      });
      // Published as one unit over the old: a reader sees the old pair or the new one, never a mix.
      await writeCredentialFiles(dir, keys.privateKey, res.svid.svid, res.bundle);
      console.log(o.json ? issuedDetailsJson(res.svid) : `${res.svid.spiffeId} renewed in ${dir} (valid until ${res.svid.notAfter})`);
    });
}
