/** A key named twice in one object is found wherever it is, however it is spelled; distinct keys and look-alikes are not. */
import { describe, expect, it } from 'vitest';
import { firstDuplicateKey } from '../../src/server/duplicate-keys.js';

describe('firstDuplicateKey', () => {
  it.each([
    ['at the top level', '{"agent":"x","agent":"y"}', 'agent'],
    ['with spaces around the colon', '{ "role" : "auditor" , "role" : "operator" }', 'role'],
    ['spelled with an escape the second time', '{"agent":"x","\\u0061gent":"y"}', 'agent'],
    ['in an object inside an array', '{"requests":[{"entryId":"a","csr":"1","csr":"2"}]}', 'csr'],
    ['after a value holding an escaped quote', '{"a":"say \\"a\\"","a":1}', 'a'],
    ['after a value ending in an escaped backslash', '{"a":"c:\\\\","b":2,"a":3}', 'a'],
  ])('finds a key twice %s', (_name, json, key) => {
    expect(firstDuplicateKey(json)).toBe(key);
  });

  it.each([
    ['distinct keys', '{"agent":"x","spiffeId":"y"}'],
    ['the same key in sibling objects', '[{"a":1},{"a":2}]'],
    ['the same key at different depths', '{"a":{"a":1}}'],
    ['a value that reads like a key', '{"a":"b","b":"a"}'],
    ['strings in an array', '{"a":["a","a"]}'],
    ['a key holding a colon and a quote', '{"a\\":":1,"a":2}'],
    ['no object at all', '"just a string"'],
  ])('finds none in %s', (_name, json) => {
    JSON.parse(json); // the scan takes text JSON.parse accepted
    expect(firstDuplicateKey(json)).toBeUndefined();
  });
});
