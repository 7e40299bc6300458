/** Which datastore errors mean "cannot take a change now" (503) rather than a bug (500). */
import { describe, expect, it } from 'vitest';
import { postgresUnavailable, sqliteUnavailable } from '../../src/store/unavailable.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('sqliteUnavailable', () => {
  it.each([
    ['SQLITE_FULL', true],
    ['SQLITE_IOERR_WRITE', true],
    ['SQLITE_IOERR', true],
    ['SQLITE_READONLY', true],
    ['SQLITE_BUSY', true],
    ['ENOSPC (a key file on a full disk)', true],
    ['EROFS', true],
    ['SQLITE_CONSTRAINT_UNIQUE', false],
    ['SQLITE_CORRUPT', false],
    ['SQLITE_FULLY_MADE_UP', false],
    ['ENOENT', false],
  ])('%s → %s', (code, expected) => {
    expect(sqliteUnavailable(withCode(code.split(' ')[0]!))).toBe(expected);
  });

  it('an error without a code is not', () => {
    expect(sqliteUnavailable(new Error('database or disk is full'))).toBe(false);
    expect(sqliteUnavailable(undefined)).toBe(false);
  });
});

describe('postgresUnavailable', () => {
  it.each([
    ['53100 (disk full)', true],
    ['08006 (connection failure)', true],
    ['57P01 (admin shutdown)', true],
    ['25006 (read-only transaction on a standby)', true],
    ['25P03 (session ended, idle in its transaction too long)', true],
    ['57014 (statement canceled: statement_timeout)', true],
    ['55P03 (lock not available within lock_timeout)', true],
    ['ECONNREFUSED', true],
    ['23505 (unique violation)', false],
    ['40001 (serialization failure)', false],
    ['42P01 (undefined table)', false],
  ])('%s → %s', (code, expected) => {
    expect(postgresUnavailable(withCode(code.split(' ')[0]!))).toBe(expected);
  });

  it.each([
    ['Connection terminated unexpectedly', 'a connection that ended mid-query', true],
    ['Client has encountered a connection error and is not queryable', 'a query on a connection the server had ended', true],
    ['Client was closed and is not queryable', 'a query on a connection closed here', true],
    ['something else', 'any other error without a code', false],
  ])('"%s" (%s, no code) → %s', (message, _what, expected) => {
    expect(postgresUnavailable(new Error(message))).toBe(expected);
  });
});
