/**
 * `npm run demo`: meshca at work on this machine, in well under a minute.
 *
 * Starts a CA, two agents and two mutual-TLS services (frontend and backend)
 * that call each other with their SVIDs, rotates the root while they do, and
 * shows the calls carry on with the new certificates. Everything listens on
 * loopback ports the system picks, lives in a temporary directory, and is
 * stopped and removed at the end, also on Ctrl-C. Exits 0 when every call
 * succeeded, 1 otherwise, 130 on Ctrl-C (143 on SIGTERM).
 */
import { systemClock } from '../time/clock.js';
import { Narrator, seconds } from './narrator.js';
import { Session } from './session.js';
import { Story } from './story.js';

/** The whole story must be over by then, or the demo fails. */
const DEADLINE_MS = 55_000;

/** The shell's convention: 128 + the signal's number. */
const exitCodeOf = (signal: NodeJS.Signals) => (signal === 'SIGINT' ? 130 : 143);

async function main(): Promise<number> {
  const say = new Narrator(systemClock);
  const session = new Session();
  let interrupted: NodeJS.Signals | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // A second Ctrl-C does not wait for a graceful stop.
      if (interrupted) process.exit(exitCodeOf(signal));
      interrupted = signal;
      say.plain(`\n${signal}: stopping the CA, the agents and the services…`);
      void session.close().then(() => process.exit(exitCodeOf(signal)));
    });
  }
  let deadline: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    deadline = setTimeout(() => reject(new Error(`the demo did not finish within ${seconds(DEADLINE_MS)}`)), DEADLINE_MS);
  });
  let success = false;
  try {
    success = await Promise.race([new Story(say, session).run(), session.childDied, late]);
  } catch (err) {
    if (interrupted) return session.close().then(() => exitCodeOf(interrupted!));
    say.fail((err as Error).message);
    for (const child of session.children) {
      say.plain(say.dim(`--- last lines of ${child.name} (pid ${child.pid}) ---\n${child.tail(15)}`));
    }
  } finally {
    clearTimeout(deadline);
  }
  await session.close();
  say.plain(`Stopped the CA, both agents and both services; removed ${session.dir}.`);
  return success ? 0 : 1;
}

process.exit(await main());
