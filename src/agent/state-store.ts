/**
 * The agent's private state across restarts (--state-dir, 0700, files 0600):
 * its own SVID and key, and the newest trust bundle it has seen. With a valid
 * agent SVID here, a restarted agent needs no new join token.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file.js';
import { decodePemBlocks, encodePem } from '../x509/pem.js';

export interface AgentCredential {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
}

/** Key and chain in one file, so that one rename replaces both: a crash can never pair a new key with an old certificate. */
const CREDENTIAL = 'agent_credential.pem';
const BUNDLE = 'bundle.pem';

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
    const [credentialPem, bundlePem] = await Promise.all([read(CREDENTIAL), read(BUNDLE)]);
    const credential = credentialPem === undefined ? undefined : splitCredential(credentialPem);
    return { ...(credential ? { credential } : {}), ...(bundlePem ? { bundlePem } : {}) };
  }

  async saveCredential(c: AgentCredential): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir, CREDENTIAL), c.keyPem + c.chainPem, 0o600);
  }

  /** Forgets a credential the CA refused, so that a restart does not present it again. */
  async forgetCredential(): Promise<void> {
    await rm(join(this.dir, CREDENTIAL), { force: true });
  }

  async saveBundle(pem: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir, BUNDLE), pem, 0o600);
  }
}
