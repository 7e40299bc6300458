/** Who besides a directory's owner may add, rename or remove what others keep in it. */
import type { Stats } from 'node:fs';
import { modeText } from './mode-text.js';

type DirectoryInfo = Pick<Stats, 'mode' | 'gid'>;

/** Every user when every user may write to it, its group when that group may and is not among `trustedGroups`. */
function writersBesidesOwner(info: DirectoryInfo, trustedGroups: readonly number[], note: string): string | undefined {
  if (info.mode & 0o002) return `every user (mode ${modeText(info.mode)}${note})`;
  if (info.mode & 0o020 && !trustedGroups.includes(info.gid)) return `group ${info.gid} (mode ${modeText(info.mode)}${note})`;
  return undefined;
}

/**
 * Who, besides the directory's owner and root, may rename or remove the
 * entries of a directory with this mode and group, and so put their own in
 * place of another's: every user when every user may write to it, its group
 * when that group may write to it and is not among `trustedGroups`; undefined
 * when none may. The sticky bit (1777, as /tmp and Kubernetes' tmpfs
 * emptyDirs) leaves each entry to its own owner: others can still add names,
 * never take over one already there.
 */
export function renamersBesidesOwner(info: DirectoryInfo, trustedGroups: readonly number[]): string | undefined {
  if (info.mode & 0o1000) return undefined;
  return writersBesidesOwner(info, trustedGroups, ', no sticky bit');
}

/**
 * Who, besides the directory's owner and root, may add names to it, sticky
 * bit or not: whatever is found there may be theirs, made before anyone
 * else made that name, unless it belongs to someone who is trusted anyway.
 */
export function addersBesidesOwner(info: DirectoryInfo, trustedGroups: readonly number[]): string | undefined {
  return writersBesidesOwner(info, trustedGroups, '');
}

/** What to do about it, said in each refusal. */
export const RENAMERS_FIX = 'chmod go-w it (0700), or set its sticky bit (chmod +t)';
