/**
 * SIGHUP, caught from the agent's first moment. Operators send it to a daemon
 * to make it reload, and Node's default would end the agent without a word,
 * also while it is still loading (a few hundred milliseconds). One that comes
 * before the agent can act on it is held, and answered as soon as it can.
 */
let pending = false;
let handle: () => void = () => {
  pending = true;
};

export function holdSighup(): void {
  process.on('SIGHUP', () => handle());
}

/** From now on `answer` handles SIGHUP, at once for one held since start. */
export function answerSighup(answer: () => void): void {
  handle = answer;
  if (pending) {
    pending = false;
    answer();
  }
}
