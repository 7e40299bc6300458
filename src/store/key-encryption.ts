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
 * `needsRewrite` tells custody to write them again in this form, and under
 * the one salt a custody keeps, so that a start derives the secret once.
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

/** A key file naming key derivation parameters meshca does not write: corrupt, or made to cost a start gigabytes. */
export class KeyDerivationError extends Error {}

export class KeyEncryption {
  /**
   * The salt this custody writes keys under, and the passphrase stretched
   * with it: the salt of the first key it read (so a CA's keys share one,
   * and a start derives once), else a new one.
   */
  private own: { salt: string; secret: Promise<string> } | undefined;
  private readonly derived = new Map<string, Promise<string>>();

  constructor(private readonly passphrase: string) {}

  async encrypt(key: KeyObject): Promise<string> {
    const own = (this.own ??= this.derive(randomBytes(16).toString('base64')));
    const pem = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: await own.secret }) as string;
    return `meshca-key-kdf: scrypt N=${N} r=${R} p=${P} salt=${own.salt}\n${pem}`;
  }

  /** Throws KeyDerivationError for parameters meshca does not write, else OpenSSL's error when the passphrase is wrong or the PEM corrupt. */
  async decrypt(pem: string): Promise<KeyObject> {
    const marker = MARKER.exec(pem);
    if (!marker) return createPrivateKey({ key: pem, passphrase: this.passphrase });
    const [, n, r, p, salt] = marker;
    if (Number(n) !== N || Number(r) !== R || Number(p) !== P) throw new KeyDerivationError(`key derivation parameters meshca does not write: ${marker[0].trim()}`);
    const secret = this.own?.salt === salt ? this.own.secret : this.derive(salt!).secret;
    const key = createPrivateKey({ key: pem, passphrase: await secret });
    this.own ??= { salt: salt!, secret };
    return key;
  }

  /** A key to write again: encrypted before the passphrase was stretched, or under another salt than this custody's. */
  needsRewrite(pem: string): boolean {
    if (!pem.includes('BEGIN ENCRYPTED PRIVATE KEY')) return false;
    const marker = MARKER.exec(pem);
    return !marker || (this.own !== undefined && marker[4] !== this.own.salt);
  }

  /** Once per salt, also for keys loaded side by side at start. */
  private derive(salt: string): { salt: string; secret: Promise<string> } {
    let secret = this.derived.get(salt);
    if (!secret) this.derived.set(salt, (secret = stretch(this.passphrase, Buffer.from(salt, 'base64'), N, R, P)));
    return { salt, secret };
  }
}
