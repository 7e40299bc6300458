/**
 * The agent's private state across restarts (--state-dir, 0700, files 0600):
 * its own SVID and key, and the newest trust bundle it has seen. With a valid
 * agent SVID here, a restarted agent needs no new join token.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file.js';

export interface AgentCredential {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
}

const KEY = 'agent_key.pem';
const SVID = 'agent_svid.pem';
const BUNDLE = 'bundle.pem';

export class StateStore {
  constructor(private readonly dir: string) {}

  async load(): Promise<{ credential?: AgentCredential; bundlePem?: string }> {
    const read = (name: string) => readFile(join(this.dir, name), 'utf8').catch(() => undefined);
    const [keyPem, chainPem, bundlePem] = await Promise.all([read(KEY), read(SVID), read(BUNDLE)]);
    return {
      ...(keyPem && chainPem ? { credential: { keyPem, chainPem } } : {}),
      ...(bundlePem ? { bundlePem } : {}),
    };
  }

  /** Key first, so a crash between the writes leaves at worst a key without its new certificate, never the reverse. */
  async saveCredential(c: AgentCredential): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir, KEY), c.keyPem, 0o600);
    await writeFileAtomic(join(this.dir, SVID), c.chainPem, 0o600);
  }

  async saveBundle(pem: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir, BUNDLE), pem, 0o600);
  }
}
