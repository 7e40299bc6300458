/**
 * Whether a directory the agent keeps its own key in (--state-dir) is its
 * alone. The agent makes it 0700 when it creates it; one that already exists
 * is the operator's, and is judged, not changed.
 */
import { stat } from 'node:fs/promises';
import { modeText } from '../platform/mode-text.js';

/** Why users other than the agent's can change what is in `dir`, or undefined when they cannot (or it does not exist yet). */
export async function sharedWriteAccess(dir: string, user = process.geteuid?.()): Promise<string | undefined> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return undefined;
  if (user !== undefined && info.uid !== user) return `it belongs to user ${info.uid}, not the agent's (${user})`;
  if ((info.mode & 0o022) !== 0) return `its mode ${modeText(info.mode)} lets ${info.mode & 0o002 ? 'every user' : 'its group'} write there`;
  return undefined;
}
