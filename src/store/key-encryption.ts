/**
 * How CA keys are encrypted at rest with the operator's passphrase. Node
 * writes encrypted PKCS#8 with OpenSSL's default key derivation, PBKDF2 of
 * only 2,048 rounds, which a stolen key file or database dump lets anyone
 * search cheaply for a passphrase people chose. So the passphrase is first
 * stretched with scrypt (N 2^15, r 8: 32 MiB and some 100 ms a guess), under
 * a random salt written with the key, and the result is the PKCS#8
 * passphrase. The salt sits on a line before the PEM block, which OpenSSL
 * skips:
 *
 *   meshca-key-kdf: scrypt N=32768 r=8 p=1 salt=<base64>
 *   -----BEGIN ENCRYPTED PRIVATE KEY-----
 *
 * Keys written before (no such line) still load with the bare passphrase;
 * `needsRewrite` tells custody to write them again in this form.
 */
import { createPrivateKey, randomBytes, scrypt, type KeyObject } from 'node:crypto';

const N = 32768;
const R = 8;
const P = 1;
const MARKER = /^meshca-key-kdf: scrypt N=(\d+) r=(\d+) p=(\d+) salt=([A-Za-z0-9+/=]+)\n/;

function stretch(passphrase: string, salt: Buffer, n: number, r: number, p: number): Promise<string> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, salt, 32, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key.toString('base64')))),
  );
}

export class KeyEncryption {
  /** This process's salt for the keys it writes, and the stretched passphrase under it: derived once, not per key. */
  private own: { salt: Buffer; secret: Promise<string> } | undefined;
  /** Stretched passphrases by the salt and parameters a key was written with. */
  private readonly derived = new Map<string, Promise<string>>();

  constructor(private readonly passphrase: string) {}

  async encrypt(key: KeyObject): Promise<string> {
    this.own ??= (() => {
      const salt = randomBytes(16);
      return { salt, secret: stretch(this.passphrase, salt, N, R, P) };
    })();
    const secret = await this.own.secret;
    const pem = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: secret }) as string;
    return `meshca-key-kdf: scrypt N=${N} r=${R} p=${P} salt=${this.own.salt.toString('base64')}\n${pem}`;
  }

  /** Throws (OpenSSL's error) when the passphrase is wrong or the PEM corrupt. */
  async decrypt(pem: string): Promise<KeyObject> {
    const marker = MARKER.exec(pem);
    if (!marker) return createPrivateKey({ key: pem, passphrase: this.passphrase });
    const [, n, r, p, salt] = marker;
    // The line is the file's own, but a corrupt one must not make a start allocate gigabytes.
    if (Number(n) > 2 ** 20 || Number(r) > 32 || Number(p) > 16) throw new Error(`key derivation parameters out of range: ${marker[0].trim()}`);
    const id = marker[0];
    let secret = this.derived.get(id);
    if (!secret) this.derived.set(id, (secret = stretch(this.passphrase, Buffer.from(salt!, 'base64'), Number(n), Number(r), Number(p))));
    return createPrivateKey({ key: pem, passphrase: await secret });
  }

  /** An encrypted key written before the passphrase was stretched. */
  static needsRewrite(pem: string): boolean {
    return pem.includes('BEGIN ENCRYPTED PRIVATE KEY') && !MARKER.test(pem);
  }
}
