/**
 * The openssl command line as an independent judge of meshca's certificates
 * and CRLs, and as the operator's tool for making a CA to bring to meshca
 * ("bring your own CA", an imported root).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.js';

export interface OpensslRun {
  readonly code: number | null;
  /** stdout then stderr. */
  readonly output: string;
}

export function openssl(args: readonly string[], cwd?: string): OpensslRun {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (run.error) throw run.error;
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

/** Like `openssl`, but throws with the output unless it exits 0. */
export function opensslOk(args: readonly string[], cwd?: string): string {
  const run = openssl(args, cwd);
  if (run.code !== 0) throw new Error(`openssl ${args.join(' ')} exited ${run.code}:\n${run.output}`);
  return run.output;
}

export interface KeyPairFiles {
  readonly cert: string;
  readonly key: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
export const CA_EXTENSIONS = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];

/**
 * A self-signed certificate made by `openssl req -x509` in `dir` as NAME.pem
 * and NAME.key (an ECDSA P-256 key, or `algorithm`'s; with
 * `explicitEcParameters`, a P-256 key that spells out its curve rather than
 * naming it; with `newKey`, the -newkey and -pkeyopt arguments that make it); `extensions` are -addext values (a CA by default), `subject`
 * replaces /O=byo/CN=NAME.
 */
export function selfSigned(
  dir: string,
  name: string,
  o: { days?: number; extensions?: readonly string[]; algorithm?: 'ed448'; newKey?: readonly string[]; explicitEcParameters?: true; subject?: string } = {},
): KeyPairFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  if (o.explicitEcParameters) opensslOk(['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-genkey', '-noout', '-out', files.key]);
  const newKey = o.newKey ? [...o.newKey, '-nodes'] : o.algorithm ? ['-newkey', o.algorithm, '-nodes'] : EC;
  const key = o.explicitEcParameters ? ['-key', files.key] : [...newKey, '-keyout', files.key];
  opensslOk([
    'req', '-x509', ...key, '-out', files.cert, '-days', String(o.days ?? 30), '-subj', o.subject ?? `/O=byo/CN=${name}`,
    ...(o.extensions ?? CA_EXTENSIONS).flatMap((e) => ['-addext', e]),
  ]);
  return files;
}

/**
 * A CA certificate NAME.pem with key NAME.key, signed by `issuer`: `uris`
 * become its URI SANs, `basicConstraints`, `keyUsage`, `subjectKeyIdentifier`
 * and `authorityKeyIdentifier` replace the defaults (pathlen 0; keyCertSign
 * and cRLSign; hash; keyid; 'none' leaves a key identifier out), `subject`
 * replaces /O=byo/CN=NAME, `extensions` are more extension lines, `serial`
 * (as -set_serial takes it) replaces a random one, `signOptions` (as openssl x509 takes them: -sha1, -sigopt ...) its default signature.
 */
export function signedCa(
  dir: string,
  name: string,
  issuer: KeyPairFiles,
  o: {
    days?: number; uris?: readonly string[]; basicConstraints?: string; keyUsage?: string; subjectKeyIdentifier?: string; authorityKeyIdentifier?: string;
    subject?: string; extensions?: readonly string[]; serial?: string; signOptions?: readonly string[];
  } = {},
): KeyPairFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  opensslOk(['req', '-new', ...EC, '-keyout', files.key, '-out', csr, '-subj', o.subject ?? `/O=byo/CN=${name}`]);
  writeFileSync(
    ext,
    [
      `basicConstraints=${o.basicConstraints ?? 'critical,CA:TRUE,pathlen:0'}`, `keyUsage=critical,${o.keyUsage ?? 'keyCertSign,cRLSign'}`,
      `subjectKeyIdentifier=${o.subjectKeyIdentifier ?? 'hash'}`, `authorityKeyIdentifier=${o.authorityKeyIdentifier ?? 'keyid'}`,
      ...(o.uris?.length ? [`subjectAltName=${o.uris.map((u) => `URI:${u}`).join(',')}`] : []),
      ...(o.extensions ?? []),
    ].join('\n'),
  );
  opensslOk([
    'x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, ...(o.serial === undefined ? ['-CAcreateserial'] : ['-set_serial', o.serial]), '-days', String(o.days ?? 30),
    '-extfile', ext, '-out', files.cert, ...(o.signOptions ?? []),
  ]);
  return files;
}

export interface VerifyRequest {
  /** PEM roots for -CAfile. */
  readonly trusted: string;
  /** PEM intermediates for -untrusted. */
  readonly untrusted?: string;
  readonly leaf: string;
  /** Seconds since the epoch for -attime (the CA's fake now). */
  readonly at: number;
  /** PEM CRLs for -CRLfile; with `crlCheck` 'leaf' (-crl_check) or 'all' (-crl_check_all). */
  readonly crls?: string;
  readonly crlCheck?: 'leaf' | 'all';
  /** -auth_level: the security level TLS verifies a peer's chain at (2 on Debian and Ubuntu); verify's own default checks no key sizes. */
  readonly authLevel?: number;
}

/** `openssl verify -x509_strict` of one leaf, each input written to its own file. */
export function verify(r: VerifyRequest): OpensslRun {
  const dir = tempDir('vfy');
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const args = ['verify', '-x509_strict', '-attime', String(r.at), '-CAfile', file('trusted.pem', r.trusted)];
  if (r.untrusted) args.push('-untrusted', file('untrusted.pem', r.untrusted));
  if (r.crls !== undefined) args.push('-CRLfile', file('crls.pem', r.crls));
  if (r.crlCheck) args.push(r.crlCheck === 'all' ? '-crl_check_all' : '-crl_check');
  if (r.authLevel !== undefined) args.push('-auth_level', String(r.authLevel));
  args.push(file('leaf.pem', r.leaf));
  return openssl(args);
}
