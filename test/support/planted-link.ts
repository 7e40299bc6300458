/** What another user may leave in a directory every user may add names to (sticky, as /tmp). */
import { chmodSync, lchownSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.js';

/**
 * A 1777 directory holding a symbolic link named `name`, owned by `owner`,
 * to a new empty directory of root's (`leadsTo`): a link that user made
 * first, and may repoint at will.
 */
export function linkInStickyDirectory(name: string, owner: number): { readonly sticky: string; readonly link: string; readonly leadsTo: string } {
  const sticky = tempDir('sticky');
  chmodSync(sticky, 0o1777);
  const leadsTo = tempDir('leads-to');
  const link = join(sticky, name);
  symlinkSync(leadsTo, link);
  lchownSync(link, owner, owner);
  return { sticky, link, leadsTo };
}
