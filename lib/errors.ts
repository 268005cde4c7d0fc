/**
 * Errors thrown by simd-nn: plain `TypeError` and `RangeError` instances with a Node-style `code`.
 * One factory builds them, and the native binding calls it too, so an error raised in C++ has the same class
 * and `code` as one raised here.
 */

import { types } from 'node:util';

/** Node-style codes that simd-nn sets on the errors it throws. */
export type ErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

/** A `TypeError` or `RangeError` carrying its Node-style `code`. */
export type SimdNnError = (TypeError | RangeError) & { code: ErrorCode };

/**
 * Creates the error for a code: `RangeError` for `ERR_OUT_OF_RANGE`, `TypeError` otherwise.
 * Handed to the native binding at load time.
 */
export function createError(code: ErrorCode, message: string): SimdNnError {
  const error = (code === 'ERR_OUT_OF_RANGE' ? new RangeError(message) : new TypeError(message)) as SimdNnError;
  error.code = code;
  return error;
}

/**
 * Describes a received value the way Node.js messages do: `type number (5)`, `an instance of Int32Array`,
 * `a Proxy`.
 */
export function describeValue(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (value === undefined) {
    return 'undefined';
  }
  if (typeof value === 'function') {
    return value.name ? `function ${value.name}` : 'function';
  }
  // A Proxy passes for its target in `constructor`, and reading it would run the Proxy's traps.
  if (types.isProxy(value)) {
    return 'a Proxy';
  }
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `an instance of ${name}` : 'an object with a null prototype';
  }

  let text = typeof value === 'string' ? `'${value}'` : String(value);
  if (text.length > 28) {
    text = `${text.slice(0, 25)}...`;
  }
  return `type ${typeof value} (${text})`;
}

/** Formats a shape as `[2,3]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Throws `ERR_INVALID_ARG_TYPE`: `The "name" argument must be <expected>. Received <value>`. */
export function invalidType(name: string, expected: string, value: unknown): never {
  throw createError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. Received ${describeValue(value)}`);
}

/** Throws `ERR_INVALID_ARG_VALUE`: `The "name" argument must be <expected>. Received <received>`. */
export function invalidValue(name: string, expected: string, received: string): never {
  throw createError('ERR_INVALID_ARG_VALUE', `The "${name}" argument must be ${expected}. Received ${received}`);
}

/** Throws `ERR_OUT_OF_RANGE`: `The "name" argument must be <expected>. Received <received>`. */
export function outOfRange(name: string, expected: string, received: string): never {
  throw createError('ERR_OUT_OF_RANGE', `The "${name}" argument must be ${expected}. Received ${received}`);
}
