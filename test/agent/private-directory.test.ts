/** Whether --state-dir, which holds the agent's own key, is the agent's alone. */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedWriteAccess } from '../../src/agent/private-directory.js';
import { tempDir } from '../support/temp-dir.js';

describe('sharedWriteAccess', () => {
  it.each([
    { mode: 0o700, owner: 'the agent', expected: undefined },
    { mode: 0o755, owner: 'the agent', expected: undefined },
    { mode: 0o770, owner: 'the agent', expected: 'its mode 0770 lets its group write there' },
    { mode: 0o777, owner: 'the agent', expected: 'its mode 0777 lets every user write there' },
    { mode: 0o1777, owner: 'the agent', expected: 'its mode 1777 lets every user write there' },
    { mode: 0o700, owner: 'another user', expected: /^it belongs to user \d+, not the agent's \(\d+\)$/ },
  ])('a directory of mode $mode owned by $owner: $expected', async ({ mode, owner, expected }) => {
    const dir = join(tempDir(), 'state');
    mkdirSync(dir);
    chmodSync(dir, mode);
    const uid = statSync(dir).uid;
    const found = await sharedWriteAccess(dir, owner === 'the agent' ? uid : uid + 1);
    expect(found).toEqual(expected instanceof RegExp ? expect.stringMatching(expected) : expected);
  });

  it('pass/a directory that does not exist yet (the agent will make it 0700)', async () => {
    expect(await sharedWriteAccess(join(tempDir(), 'missing'))).toBeUndefined();
  });
});
