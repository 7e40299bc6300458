/** `meshca authority list | root prepare|activate|retire | intermediate import|taint`: the CA key lifecycle. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { AuthorityView } from '../../server/json-views.js';
import { adminClient, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { hexArgument } from '../hex-argument.js';
import { formatTable } from '../table.js';
import { counted } from '../counted.js';

export function registerAuthority(program: Command): void {
  const authority = program.command('authority').description('roots and intermediates: list them, rotate the root, import or taint an intermediate');

  authority
    .command('list')
    .description('every root and intermediate with its state, validity and live SVIDs chaining to it')
    .option('--json', 'print JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { json?: boolean }) => {
      const res = await adminClient(o).call<{ authorities: AuthorityView[]; bundleSequence: number }>('GET', '/v1/authorities');
      if (o.json) return void console.log(JSON.stringify(res));
      console.log(
        formatTable(
          ['ID', 'KIND', 'STATE', 'ROLE', 'NOT BEFORE', 'NOT AFTER', 'LIVE SVIDS'],
          res.authorities.map((a) => [
            a.id,
            a.kind,
            a.state,
            [a.signing ? 'signing' : null, a.inBundle ? 'in bundle' : null, a.taintedAt ? `tainted ${a.taintedAt}` : null, a.keyHeld ? null : 'no key'].filter(Boolean).join(', ') || null,
            a.notBefore,
            a.notAfter,
            a.liveSvids,
          ]),
        ),
      );
      console.log(`bundle sequence ${res.bundleSequence}`);
    });

  const root = authority.command('root').description('rotate the root: prepare, then activate, then retire');
  root
    .command('prepare')
    .description('add a new root to the trust bundle next to the current one (generated, or imported from files on the CA host)')
    .option('--import-cert <file>', 'PEM certificate of a root to import')
    .option('--import-key <file>', 'its PEM private key (left out for your organisation\'s next root on a CA signing with an imported intermediate)')
    .option('--json', 'print {id, state, bundleSequence}; the advice that follows goes to stderr')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { importCert?: string; importKey?: string; json?: boolean }) => {
      if (o.server && (o.importCert || o.importKey)) {
        refuseFlags('--import-cert and --import-key name files the CA reads on its own host, which it does only for the host\'s operator: run this there, with --data-dir');
      }
      const res = await adminClient(o).call<{ id: string; state: string; bundleSequence: number }>('POST', '/v1/authorities/root/prepare', {
        ...(o.importCert ? { importCertFile: resolve(o.importCert) } : {}),
        ...(o.importKey ? { importKeyFile: resolve(o.importKey) } : {}),
      }, { importCertFile: '--import-cert', importKeyFile: '--import-key' });
      if (o.json) console.log(JSON.stringify(res));
      else console.log(`prepared root ${res.id}; the trust bundle (sequence ${res.bundleSequence}) now carries it`);
      // Once activated, the CA serves under the new root: a copy of the bundle from before this cannot reach it.
      (o.json ? console.error : console.log)(
        'Before activating it, write the bundle now (meshca bundle) where agents find --trust-bundle and into the bundle.pem of every admin credential: ' +
          'agents that start without a saved bundle, and remote operators, trust the CA by that copy alone',
      );
    });
  root
    .command('activate')
    .description('make new intermediates chain to the prepared root (refused until it has propagated, unless --force)')
    .option('--force', 'activate before --root-propagation has passed')
    .option('--json', 'print {id, state, signingIntermediate}')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { force?: boolean; json?: boolean }) => {
      const res = await adminClient(o).call<{ id: string; state: string; signingIntermediate: string }>('POST', '/v1/authorities/root/activate', {
        force: Boolean(o.force),
      });
      console.log(o.json ? JSON.stringify(res) : `activated root ${res.id}; new SVIDs are signed by intermediate ${res.signingIntermediate}`);
    });
  root
    .command('withdraw')
    .description('take the prepared root, unused, out of the trust bundle for good (one prepared by mistake); it cannot be prepared again')
    .option('--json', 'print {id, state, bundleSequence}')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { json?: boolean }) => {
      const res = await adminClient(o).call<{ id: string; state: string; bundleSequence: number }>('POST', '/v1/authorities/root/withdraw');
      console.log(o.json ? JSON.stringify(res) : `withdrew root ${res.id}; trust bundle sequence ${res.bundleSequence}`);
    });
  root
    .command('retire')
    .description('remove the old root from the trust bundle (refused while unexpired SVIDs chain to it, unless --force)')
    .option('--force', 'retire even though live SVIDs chain to it')
    .option('--json', 'print {id, state, bundleSequence, revoked}')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { force?: boolean; json?: boolean }) => {
      const res = await adminClient(o).call<{ id: string; state: string; bundleSequence: number; revoked: number }>('POST', '/v1/authorities/root/retire', {
        force: Boolean(o.force),
      });
      if (o.json) return void console.log(JSON.stringify(res));
      console.log(`retired root ${res.id}: ${counted(res.revoked, 'certificate')} revoked; trust bundle sequence ${res.bundleSequence}`);
    });

  const intermediate = authority.command('intermediate').description('intermediates: import a renewed one (plug-in CA), or taint one');
  intermediate
    .command('import')
    .description(
      'sign with a new intermediate from your organisation at once (a CA started with --import-intermediate-*); ' +
        'it must chain to a root of the current trust bundle (one prepared without its key becomes the signing root, once propagated); ' +
        'the previous one retires, its SVIDs stay valid',
    )
    .requiredOption('--cert <file>', 'PEM certificate of the new intermediate (a file on the CA host)')
    .requiredOption('--key <file>', 'its PEM private key')
    .option('--chain <file>', 'PEM certificates between it and the root of the bundle, if any')
    .option('--force', 'under a root prepared without its key: make it the signing root without waiting for --root-propagation or for agents not seen since it was prepared')
    .option('--json', 'print {id, state, retired}: retired is the id of the intermediate it replaced, or null')
    // No --server: the CA reads these files on its own host, which it does only for the host's operator.
    .addOption(dataDirOption())
    .action(async (o: CommonOptions & { cert: string; key: string; chain?: string; force?: boolean; json?: boolean }) => {
      if (process.env.MESHCA_SERVER) {
        refuseFlags('MESHCA_SERVER names a CA on another host, but this command has the CA read files on its own host, so it runs only there: unset MESHCA_SERVER to import into the CA of --data-dir');
      }
      const res = await adminClient(o).call<{ id: string; state: string; retired: string | null }>(
        'POST',
        '/v1/authorities/intermediate/import',
        { certFile: resolve(o.cert), keyFile: resolve(o.key), ...(o.chain ? { chainFile: resolve(o.chain) } : {}), ...(o.force ? { force: true } : {}) },
        { certFile: '--cert', keyFile: '--key', chainFile: '--chain' },
      );
      if (o.json) return void console.log(JSON.stringify(res));
      console.log(`imported intermediate ${res.id}; it signs from now on` + (res.retired ? ` (${res.retired} retired; its SVIDs stay valid)` : ''));
    });
  intermediate
    .command('taint')
    .description('stop using an intermediate at once and revoke every SVID it signed; agents re-issue under the next one')
    .argument('<id>', 'its id as authority list shows it, or its subject key identifier as openssl prints it (A5:F0:…)')
    .option('--json', 'print {id, revoked, signingIntermediate}')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (typed: string, o: CommonOptions & { json?: boolean }) => {
      const id = hexArgument(typed);
      const res = await adminClient(o).call<{ id: string; revoked: number; signingIntermediate: string }>(
        'POST',
        `/v1/authorities/${encodeURIComponent(id)}/taint`,
        undefined,
        { id: `intermediate id ${JSON.stringify(typed)}` },
      );
      if (o.json) return void console.log(JSON.stringify(res));
      console.log(`tainted ${id}: ${counted(res.revoked, 'certificate')} revoked; signing intermediate is now ${res.signingIntermediate}`);
    });
}
