import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { isConnectionError, isRetryableDbError, isUniqueViolation } from '../../src/store/sqlstate.js';

const pgError = (code: string, extra: object = {}) => Object.assign(new Error('db'), { code, ...extra });

describe('isRetryableDbError', () => {
  it.each(['40001', '40P01', '57P01', '08006', '08001', '53300', 'ECONNRESET', 'ECONNREFUSED'])('%s is retryable', (code) => {
    expect(isRetryableDbError(pgError(code))).toBe(true);
  });

  it.each(['23505', '42P01', '22P02', 'ENOENT'])('%s is not', (code) => {
    expect(isRetryableDbError(pgError(code))).toBe(false);
  });

  it('follows the cause of a wrapped error, and rejects anything without a code', () => {
    expect(isRetryableDbError(new AppError('database_unavailable', undefined, { cause: pgError('40P01') }))).toBe(true);
    expect(isRetryableDbError(new Error('x'))).toBe(false);
    expect(isRetryableDbError(undefined)).toBe(false);
    expect(isRetryableDbError('40001')).toBe(false);
  });
});

describe('isConnectionError', () => {
  it.each(['57P01', '57P03', '08006', '08001', '53300', 'ECONNREFUSED', 'ECONNRESET'])('%s is a lost or refused connection', (code) => {
    expect(isConnectionError(pgError(code))).toBe(true);
  });

  it.each(['40001', '40P01', '23505', '42P01'])('%s is an error of the statement, not of the connection', (code) => {
    expect(isConnectionError(pgError(code))).toBe(false);
  });

  it("knows pg's and knex's errors without a code, and our database_unavailable", () => {
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError(new Error('select 1 - Connection terminated due to connection timeout'))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' }))).toBe(true);
    expect(isConnectionError(new AppError('database_unavailable'))).toBe(true);
    expect(isConnectionError(new Error('syntax error'))).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
  });
});

describe('isUniqueViolation', () => {
  it('matches 23505, optionally of one constraint', () => {
    expect(isUniqueViolation(pgError('23505', { constraint: 'a_key' }))).toBe(true);
    expect(isUniqueViolation(pgError('23505', { constraint: 'a_key' }), 'a_key')).toBe(true);
    expect(isUniqueViolation(pgError('23505', { constraint: 'b_key' }), 'a_key')).toBe(false);
    expect(isUniqueViolation(pgError('23503'))).toBe(false);
  });
});
