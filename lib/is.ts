/** Small predicates for argument checks. None of them throws. */
import { types } from 'node:util';

/** True for a Float32Array from any realm (vm contexts included), unlike `instanceof`. */
export function isFloat32Array(value: unknown): value is Float32Array {
  return types.isFloat32Array(value);
}

/** True for an Int32Array from any realm, unlike `instanceof`. */
export function isInt32Array(value: unknown): value is Int32Array {
  return types.isInt32Array(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** True for an integer that a JavaScript number represents exactly, at most 2^53 - 1 in magnitude. */
export function isSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}
