/** What a failing command prints: the message, then the causes behind it. */
import { describe, expect, it } from 'vitest';
import { errorText } from '../../src/cli/error-text.js';

const full = new Error('database or disk is full');

describe('errorText', () => {
  it.each([
    ['an error alone', new Error('no embedded meshca datastore in ./data'), 'no embedded meshca datastore in ./data'],
    ['an error over a cause', new Error('the issuance could not be recorded; no certificate was issued', { cause: full }), 'the issuance could not be recorded; no certificate was issued: database or disk is full'],
    ['a cause that repeats the message', new Error('socket hang up', { cause: new Error('socket hang up') }), 'socket hang up'],
    ['a cause that is no Error', new Error('failed', { cause: 'text' }), 'failed'],
    ['something thrown that is no Error', 'plain text', 'plain text'],
  ])('%s', (_name, err, text) => {
    expect(errorText(err)).toBe(text);
  });

  it('stops on a cycle of causes', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(errorText(a)).toBe('a: b');
  });
});
