/** Who besides a directory's owner may rename or remove what others keep in it. */
import type { Stats } from 'node:fs';
import { modeText } from './mode-text.js';

/**
 * Who, besides the directory's owner and root, may rename or remove the
 * entries of a directory with this mode and group, and so put their own in
 * place of another's: every user when every user may write to it, its group
 * when that group may write to it and is not among `trustedGroups`; undefined
 * when none may. The sticky bit (1777, as /tmp and Kubernetes' tmpfs
 * emptyDirs) leaves each entry to its own owner: others can still add names,
 * never take over one already there.
 */
export function renamersBesidesOwner(info: Pick<Stats, 'mode' | 'gid'>, trustedGroups: readonly number[]): string | undefined {
  if (info.mode & 0o1000) return undefined;
  if (info.mode & 0o002) return `every user (mode ${modeText(info.mode)}, no sticky bit)`;
  if (info.mode & 0o020 && !trustedGroups.includes(info.gid)) return `group ${info.gid} (mode ${modeText(info.mode)}, no sticky bit)`;
  return undefined;
}

/** What to do about it, said in each refusal. */
export const RENAMERS_FIX = 'chmod go-w it (0700), or set its sticky bit (chmod +t)';
