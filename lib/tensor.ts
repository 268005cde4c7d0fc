/**
 * Argument handling shared by the public functions: turning inputs into Float32Array data with a shape,
 * checking shapes, axes and outputs, and viewing a tensor as rows x classes along its class axis.
 */
import { binding } from './binding';
import { formatShape, invalidType, invalidValue, outOfRange } from './errors';
import { isFloat32Array, isInt32Array, isSafeInteger, isPlainObject } from './is';

/** A number, or an array of them nested to any depth with every level rectangular. */
export type NestedNumbers = number | readonly NestedNumbers[];

/** A tensor argument: a Float32Array (read in place) or nested numbers (copied once). */
export type TensorLike = Float32Array | readonly NestedNumbers[];

/**
 * A tensor's float32 data, its element count and, for arrays nested two levels or more, the shape their
 * nesting fixes.
 */
export interface Tensor {
  data: Float32Array;
  /** The element count from the built-in getter (see elementCount). */
  length: number;
  nestedShape: number[] | undefined;
}

/** A tensor seen as rows x classes: element (r, j) is at (r / inner) * classes * inner + r % inner + j * inner. */
export interface RowLayout {
  rows: number;
  classes: number;
  inner: number;
}

// Deeper nesting is rejected: it is never a real tensor, and a self-containing array would recurse forever.
const MAX_NESTING_DEPTH = 32;

// The built-in TypedArray length getter. A subclass or a changed prototype can redefine `length`, and the
// binding always uses the real element count, so the facade must check that count too.
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Float32Array.prototype), 'length')!
  .get as (this: Float32Array | Int32Array) => number;

/** Returns the view's element count without calling any `length` property the caller may have redefined. */
export function elementCount(view: Float32Array | Int32Array): number {
  return typedArrayLength.call(view);
}

// The built-in TypedArray `at`, which throws a TypeError for a view that is detached or out of bounds.
const typedArrayAt = Object.getPrototypeOf(Float32Array.prototype).at as (
  this: Float32Array | Int32Array,
  index: number,
) => unknown;

// The two checks below are for views of length 0 only. A detached view reports that length on Node.js 20,
// like an empty one, and only the binding can tell them apart.
function isDetachedView(view: Float32Array | Int32Array): boolean {
  return binding.isDetached(view);
}

// A view of a resizable ArrayBuffer that shrank below the view's end reports length 0 too, but any later read
// of it throws, so it is rejected rather than taken as empty.
function isOutOfBoundsView(view: Float32Array | Int32Array): boolean {
  try {
    typedArrayAt.call(view, 0);
    return false;
  } catch {
    return true;
  }
}

// Rejects a view of length 0 that is detached or past the end of its buffer, rather than taking it as empty.
function rejectInaccessibleView(view: Float32Array | Int32Array, name: string): void {
  const type = isFloat32Array(view) ? 'a Float32Array' : 'an Int32Array';
  if (isDetachedView(view)) {
    invalidValue(name, `${type} whose ArrayBuffer is not detached`, 'a view of a detached ArrayBuffer');
  }
  if (isOutOfBoundsView(view)) {
    invalidValue(
      name,
      `${type} within the bounds of its ArrayBuffer`,
      'a view that ends past its resized ArrayBuffer',
    );
  }
}

// Shared by every call without options, so that such a call allocates no options object.
const NO_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze({});

/** Throws unless `options` is undefined or a plain object. */
export function requireOptions(options: unknown): Readonly<Record<string, unknown>> {
  if (options === undefined) {
    return NO_OPTIONS;
  }
  if (!isPlainObject(options)) {
    invalidType('options', 'an object', options);
  }
  return options;
}

/** Throws unless `args`, the single argument of the loss functions, is a plain object. */
export function requireArgs(args: unknown): Record<string, unknown> {
  if (!isPlainObject(args)) {
    invalidType('args', 'an object', args);
  }
  return args;
}

function nestingShape(value: readonly unknown[], name: string): number[] {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    if (shape.length === MAX_NESTING_DEPTH) {
      invalidValue(name, `an array nested at most ${MAX_NESTING_DEPTH} levels deep`, 'deeper nesting');
    }
    shape.push(level.length);
    if (level.length === 0) {
      break;
    }
    level = level[0];
  }
  return shape;
}

function rejectRagged(name: string, path: string, found: string, expected: string): never {
  return invalidValue(name, 'a rectangular nested array', `${path}, ${found}, where ${expected} was expected`);
}

// Copies nested numbers into `data` in row-major order, checking that every level matches `shape`.
function flattenInto(
  level: readonly unknown[],
  shape: number[],
  depth: number,
  data: Float32Array | Float64Array,
  offset: number,
  path: string,
  name: string,
): number {
  const isLeafLevel = depth === shape.length - 1;
  for (let i = 0; i < level.length; i++) {
    const element = level[i];
    const elementPath = `${path}[${i}]`;

    if (isLeafLevel) {
      if (typeof element === 'number') {
        data[offset++] = element;
      } else if (Array.isArray(element)) {
        rejectRagged(name, elementPath, 'an array', 'a number');
      } else {
        invalidType(elementPath, 'of type number', element);
      }
      continue;
    }

    const expectedLength = shape[depth + 1];
    if (!Array.isArray(element)) {
      rejectRagged(name, elementPath, 'not an array', `an array of length ${expectedLength}`);
    }
    if (element.length !== expectedLength) {
      rejectRagged(name, elementPath, `of length ${element.length}`, `length ${expectedLength}`);
    }
    offset = flattenInto(element, shape, depth + 1, data, offset, elementPath, name);
  }
  return offset;
}

/**
 * Copies nested numbers into a new array of `type`, in row-major order, and returns it with their shape.
 * `destination` names the array the caller ends up with, for the message when there are too many numbers.
 */
function copyNested<T extends Float32Array | Float64Array>(
  value: readonly unknown[],
  name: string,
  type: new (length: number) => T,
  destination: string,
): { data: T; shape: number[] } {
  const shape = nestingShape(value, name);
  let data: T;
  try {
    data = new type(shapeSize(shape));
  } catch {
    // Nested arrays that share their inner arrays can describe more elements than any typed array holds.
    return outOfRange(name, `a nested array small enough to copy into ${destination}`, `shape ${formatShape(shape)}`);
  }
  flattenInto(value, shape, 0, data, 0, name, name);
  return { data, shape };
}

/**
 * Returns a tensor's data as a Float32Array: the caller's own array when it is one (never copied), or a
 * float32 copy of nested numbers.
 */
export function toTensor(value: unknown, name: string): Tensor {
  if (isFloat32Array(value)) {
    const length = elementCount(value);
    if (length === 0) {
      rejectInaccessibleView(value, name);
    }
    return { data: value, length, nestedShape: undefined };
  }
  if (!Array.isArray(value)) {
    invalidType(name, 'an instance of Float32Array or an array of numbers', value);
  }

  const { data, shape } = copyNested(value, name, Float32Array, 'a Float32Array');

  // A one-level array is a flat list of numbers, like a Float32Array: a `shape` option may reshape it.
  return { data, length: data.length, nestedShape: shape.length > 1 ? shape : undefined };
}

/** Class ids, one per row: an Int32Array and, for nested input, the shape its nesting fixes. */
export interface ClassIds {
  data: Int32Array;
  nestedShape: number[] | undefined;
}

/**
 * Returns class ids as an Int32Array: the caller's own array when it is one (never copied), or a copy of
 * nested integers. Every id must be an integer in [0, classes - 1]. The message names the row, counted across
 * the flattened ids.
 */
export function toClassIds(value: unknown, name: string, classes: number): ClassIds {
  const rejectId = (row: number, id: number): never =>
    outOfRange(`${name}[${row}]`, `a class id in [0, ${classes - 1}]`, String(id));

  if (isInt32Array(value)) {
    const length = elementCount(value);
    if (length === 0) {
      rejectInaccessibleView(value, name);
    }
    for (let row = 0; row < length; row++) {
      const id = value[row];
      if (id < 0 || id >= classes) {
        rejectId(row, id);
      }
    }
    return { data: value, nestedShape: undefined };
  }
  if (!Array.isArray(value)) {
    invalidType(name, 'an instance of Int32Array or an array of integers', value);
  }

  // Copied through float64 first, which keeps every id exact for the range check.
  const { data: numbers, shape } = copyNested(value, name, Float64Array, 'an Int32Array');
  const data = new Int32Array(numbers.length);
  for (let row = 0; row < numbers.length; row++) {
    const id = numbers[row];
    if (!Number.isInteger(id) || id < 0 || id >= classes) {
      rejectId(row, id);
    }
    data[row] = id;
  }
  return { data, nestedShape: shape.length > 1 ? shape : undefined };
}

/** Returns the number of elements of a shape: the product of its dimensions, 1 for `[]`. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

function requireShapeOption(value: unknown, name: string): number[] {
  if (!Array.isArray(value)) {
    invalidType(name, 'an array of non-negative integers', value);
  }
  const shape: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const dimension: unknown = value[i];
    if (typeof dimension !== 'number') {
      invalidType(`${name}[${i}]`, 'of type number', dimension);
    }
    if (!isSafeInteger(dimension) || dimension < 0) {
      outOfRange(`${name}[${i}]`, 'a non-negative integer no greater than 2^53 - 1', String(dimension));
    }
    shape.push(dimension);
  }
  return shape;
}

/**
 * Returns the tensor's shape: the `shape` option if given (checked against the data's length and any nesting),
 * else the nesting, else `[length]`.
 */
export function resolveShape(tensor: Tensor, shapeOption: unknown, shapeName: string, tensorName: string): number[] {
  if (shapeOption === undefined) {
    return tensor.nestedShape ?? [tensor.length];
  }

  const shape = requireShapeOption(shapeOption, shapeName);
  if (tensor.nestedShape !== undefined && formatShape(shape) !== formatShape(tensor.nestedShape)) {
    invalidValue(
      shapeName,
      `equal to the shape of the nested "${tensorName}" array, ${formatShape(tensor.nestedShape)}`,
      formatShape(shape),
    );
  }

  const product = shapeSize(shape);
  if (product !== tensor.length) {
    invalidValue(
      shapeName,
      `a shape whose product is the length of "${tensorName}", ${tensor.length}`,
      `${formatShape(shape)}, whose product is ${product}`,
    );
  }
  return shape;
}

/**
 * Returns the axis as a non-negative index into a shape of rank `rank` (at least 1), accepting -rank..rank-1.
 * Where several tensors share one axis, `tensorName` and `tensorShape` name the tensor in the message, as in
 * `for "labels" [4]`.
 */
export function normalizeAxis(
  axis: unknown,
  rank: number,
  tensorName?: string,
  tensorShape?: readonly number[],
): number {
  if (axis === undefined) {
    return rank - 1;
  }
  if (typeof axis !== 'number') {
    invalidType('axis', 'of type number', axis);
  }
  if (!isSafeInteger(axis) || axis < -rank || axis >= rank) {
    const context = tensorName !== undefined && tensorShape !== undefined
      ? ` for "${tensorName}" ${formatShape(tensorShape)}`
      : '';
    outOfRange('axis', `an integer in [${-rank}, ${rank - 1}]${context}`, String(axis));
  }
  return axis < 0 ? axis + rank : axis;
}

/** Throws unless the shape has at least one dimension, which row-wise functions need for their class axis. */
export function requireRank(shape: number[], shapeName: string): void {
  if (shape.length === 0) {
    invalidValue(shapeName, 'a shape with at least one dimension', '[]');
  }
}

/** Views a shape as rows x classes along `axis` (already normalized). */
export function rowLayout(shape: number[], axis: number): RowLayout {
  let outer = 1;
  for (let i = 0; i < axis; i++) {
    outer *= shape[i];
  }
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) {
    inner *= shape[i];
  }

  // With a zero-sized dimension after the axis there are no rows; inner = 1 keeps the layout well formed.
  const rows = outer * inner;
  return { rows, classes: shape[axis], inner: inner === 0 ? 1 : inner };
}

/**
 * Returns the layout to hand to the binding. An empty tensor becomes 0 rows of 1 class: it has no elements to
 * address, and its dimensions may exceed what the binding accepts (2^53 - 1), as in shape [0, 2^30, 2^30].
 */
export function bindingLayout(layout: RowLayout, length: number): RowLayout {
  return length === 0 ? { rows: 0, classes: 1, inner: 1 } : layout;
}

/**
 * Returns the caller's `out` after checking its type and length, or a new zeroed Float32Array of `length`.
 * Overlap with the inputs is checked natively, by address.
 */
export function resolveOut(out: unknown, length: number, name: string, expected: string): Float32Array {
  if (out === undefined) {
    return new Float32Array(length);
  }
  if (!isFloat32Array(out)) {
    invalidType(name, 'an instance of Float32Array', out);
  }
  const outLength = elementCount(out);
  if (outLength === 0) {
    rejectInaccessibleView(out, name);
  }
  if (outLength !== length) {
    invalidValue(name, `a Float32Array of length ${length} (${expected})`, `length ${outLength}`);
  }
  return out;
}
