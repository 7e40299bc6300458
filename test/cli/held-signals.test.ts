/**
 * SIGHUP while the agent is still loading: held, not fatal, and answered once
 * the agent can act on it.
 */
import { describe, expect, it } from 'vitest';
import { answerSighup, holdSighup } from '../../src/cli/held-signals.js';

describe('SIGHUP before the agent can act on it', () => {
  it('is held from the first moment and answered once, as soon as an answer is given; later ones are answered as they come', () => {
    holdSighup();
    process.emit('SIGHUP', 'SIGHUP');
    process.emit('SIGHUP', 'SIGHUP');
    let answered = 0;
    answerSighup(() => answered++);
    expect(answered).toBe(1);
    process.emit('SIGHUP', 'SIGHUP');
    expect(answered).toBe(2);
  });
});
