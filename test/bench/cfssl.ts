/**
 * The peer: CloudFlare's `cfssl serve` 1.2.0 (Debian's golang-cfssl) with its
 * own ECDSA P-256 CA, installed when missing, on loopback.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { stopChild, trackChild } from './meshca-target.js';
import { REQUEST_TIMEOUT_MS } from './load.js';

export interface Cfssl {
  readonly pid: number;
  readonly version: string;
  sign(csr: string): Promise<number>;
  stop(): Promise<void>;
}

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function ensureCfssl(): string {
  if (!have('cfssl')) {
    console.error('installing golang-cfssl from Debian (apt-get)...');
    execFileSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-cfssl || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-cfssl)'], {
      stdio: 'inherit',
    });
  }
  return execFileSync('cfssl', ['version'], { encoding: 'utf8' }).split('\n')[0]!.replace('Version: ', '').trim();
}

export async function startCfssl(dir: string, port: number): Promise<Cfssl> {
  const version = ensureCfssl();
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'ca-key.pem');
  const cert = join(dir, 'ca.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', '/O=cfssl bench CA', '-days', '7',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert]);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ signing: { default: { expiry: '1h', usages: ['digital signature', 'server auth', 'client auth'] } } }));
  const child: ChildProcess = trackChild(spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', cert, '-ca-key', key, '-config', join(dir, 'config.json')], {
    stdio: 'ignore',
  }));
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sign = (csr: string) =>
    new Promise<number>((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify({ certificate_request: csr }));
      const req = request(
        { host: '127.0.0.1', port, path: '/api/v1/cfssl/sign', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              const body = JSON.parse(Buffer.concat(chunks).toString()) as { success: boolean; errors?: unknown };
              if (body.success) resolve(1);
              else reject(new Error(JSON.stringify(body.errors)));
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end(payload);
    });
  // A cfssl that does not come up is not left running.
  try {
    for (let i = 0; ; i++) {
      try {
        await sign(await firstCsr());
        break;
      } catch (err) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`cfssl serve exited during start-up (${child.exitCode ?? child.signalCode})`);
        if (i > 50) throw new Error(`cfssl serve did not come up: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    agent.destroy();
    await stopChild(child);
    throw err;
  }
  return {
    pid: child.pid!,
    version,
    sign,
    stop: async () => {
      agent.destroy();
      await stopChild(child);
    },
  };
}

let probeCsr: string | undefined;
async function firstCsr(): Promise<string> {
  if (!probeCsr) {
    const { generateKeyPair } = await import('../../src/x509/keys.js');
    const { createCsr } = await import('../../src/x509/csr-builder.js');
    const k = await generateKeyPair('ec-p256');
    probeCsr = await createCsr(k.privateKey, k.publicKey);
  }
  return probeCsr;
}
