/**
 * --state-dir as the loop uses it, counting the writes its disk refuses
 * (meshca_agent_state_write_failures_total). Each part of the loop says such a
 * failure in its own words and tries again later; until a save succeeds, a
 * restart needs a new join token or forgets a retired root, which a graph of
 * refusals shows before anyone reads the log.
 */
import type { StateStore } from './state-store.js';

/** The calls that write to --state-dir. */
const WRITES = ['saveCredential', 'saveBundle', 'saveRetiredRoots', 'recordRefusal', 'clearRefusal', 'forgetCredential'] as const;

/** `state`, with `refused` called for every write that fails; everything else goes to `state` as it is. */
export function countingWriteFailures(state: StateStore, refused: () => void): StateStore {
  const counted = Object.create(state) as StateStore;
  for (const name of WRITES) {
    Object.defineProperty(counted, name, {
      value: async (...args: unknown[]) => {
        try {
          // Looked up at each call, on `state` itself: whatever its method is by then.
          await (state[name] as (...a: unknown[]) => Promise<void>).apply(state, args);
        } catch (err) {
          refused();
          throw err;
        }
      },
    });
  }
  return counted;
}
