/**
 * The agent's private state across restarts (--state-dir, 0700, files 0600):
 * its own SVID and key, and the newest trust bundle it has seen. With a valid
 * agent SVID here, a restarted agent needs no new join token.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectory, removeTemporaries, writeFileAtomic } from '../platform/atomic-file.js';
import { decodePemBlocks, encodePem } from '../x509/pem.js';

export interface AgentCredential {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
}

/** Key and chain in one file, so that one rename replaces both: a crash can never pair a new key with an old certificate. */
const CREDENTIAL = 'agent_credential.pem';
const BUNDLE = 'bundle.pem';
/** Where earlier builds kept the key and the chain, in two files: still read, removed once replaced. */
const OLD_KEY = 'agent_key.pem';
const OLD_CHAIN = 'agent_svid.pem';

function splitCredential(pem: string): AgentCredential | undefined {
  let blocks;
  try {
    blocks = decodePemBlocks(pem);
  } catch {
    return undefined; // unreadable: the agent attests again, as with no file
  }
  const key = blocks.find((b) => b.label === 'PRIVATE KEY');
  const chain = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (!key || chain.length === 0) return undefined;
  return { keyPem: encodePem(key.label, key.der), chainPem: chain.map((b) => encodePem(b.label, b.der)).join('') };
}

export class StateStore {
  constructor(private readonly dir: string) {}

  async load(): Promise<{ credential?: AgentCredential; bundlePem?: string }> {
    const read = (name: string) => readFile(join(this.dir, name), 'utf8').catch(() => undefined);
    const [credentialPem, bundlePem, oldKey, oldChain] = await Promise.all([read(CREDENTIAL), read(BUNDLE), read(OLD_KEY), read(OLD_CHAIN)]);
    const saved = credentialPem ?? (oldKey && oldChain ? oldKey + oldChain : undefined);
    const credential = saved === undefined ? undefined : splitCredential(saved);
    return { ...(credential ? { credential } : {}), ...(bundlePem ? { bundlePem } : {}) };
  }

  /**
   * Removes the temporary files a save killed midway left (one may hold the
   * agent's private key). Only at start: the agent is the directory's one writer.
   * Returns the names removed.
   */
  async removeCrashLeftovers(): Promise<string[]> {
    return removeTemporaries(this.dir);
  }

  async saveCredential(c: AgentCredential): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    await writeFileAtomic(join(this.dir, CREDENTIAL), c.keyPem + c.chainPem, 0o600);
    await this.removeOldLayout();
  }

  /** Forgets a credential the CA refused, so that a restart does not present it again. */
  async forgetCredential(): Promise<void> {
    await rm(join(this.dir, CREDENTIAL), { force: true });
    await this.removeOldLayout();
  }

  private async removeOldLayout(): Promise<void> {
    await Promise.all([OLD_KEY, OLD_CHAIN].map((name) => rm(join(this.dir, name), { force: true })));
  }

  async saveBundle(pem: string): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    await writeFileAtomic(join(this.dir, BUNDLE), pem, 0o600);
  }
}
