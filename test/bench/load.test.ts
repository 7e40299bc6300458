/**
 * The bench's one-off requests (the listing, the agent's set-up) give up on a
 * CA that stops answering, rather than hold the run for good: the run then
 * fails with the step named and stops what it started.
 */
import { describe, expect, it } from 'vitest';
import { answeredWithin } from './load.js';

describe('answeredWithin', () => {
  it('passes an answer on', async () => {
    await expect(answeredWithin('a page', Promise.resolve(7), 1000)).resolves.toBe(7);
  });

  it('passes a failure on', async () => {
    await expect(answeredWithin('a page', Promise.reject(new Error('HTTP 500')), 1000)).rejects.toThrow('HTTP 500');
  });

  it('fails, naming the request, when no answer comes in time', async () => {
    await expect(answeredWithin('the first page of cert list', new Promise(() => undefined), 20)).rejects.toThrow('the first page of cert list: no answer in 0.02 s');
  });
});
