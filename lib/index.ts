/**
 * simd-nn: TensorFlow's tf.nn activations and losses as native SIMD kernels over Float32Array memory.
 *
 * Every function validates its arguments here, then passes the typed-array memory straight to C++. Inputs
 * given as Float32Array are read in place and never copied; nested number arrays are copied once into float32.
 * A call that throws has written nothing.
 */
import { createRequire } from 'node:module';

import { binding, type IsaName } from './binding';
import { formatShape, invalidValue, outOfRange } from './errors';
import {
  normalizeAxis,
  requireArgs,
  requireOptions,
  requireRank,
  resolveOut,
  resolveShape,
  rowLayout,
  shapeSize,
  toTensor,
  type RowLayout,
  type Tensor,
  type TensorLike,
} from './tensor';

export type { ErrorCode, SimdNnError } from './errors';
export type { IsaName } from './binding';
export type { NestedNumbers, TensorLike } from './tensor';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Options of the element-wise activations. */
export interface ElementwiseOptions {
  /** Receives the result; same length as the input. May be the input itself for in-place use. */
  out?: Float32Array;
}

/** Options of {@link softmax}. */
export interface SoftmaxOptions {
  /** Shape of a flat input (default `[length]`); must equal the nesting of a nested one. */
  shape?: readonly number[];
  /** Class axis, negative counting from the end (default -1). */
  axis?: number;
  /** Receives the probabilities; same length as the input. May be the input itself. */
  out?: Float32Array;
}

/** Arguments of {@link softmaxCrossEntropyWithLogits}. */
export interface SoftmaxCrossEntropyArgs {
  /** Class probabilities (or any weights: they are not validated and need not sum to 1). */
  labels: TensorLike;
  /** Unscaled log-probabilities. */
  logits: TensorLike;
  /** Shape of flat logits (default `[length]`). */
  shape?: readonly number[];
  /** Shape of flat labels (default: `shape`, else the logits' shape when the lengths match). */
  labelsShape?: readonly number[];
  /** Class axis of both tensors, negative counting from the end (default -1). */
  axis?: number;
  /** Receives the loss of each row. */
  out?: Float32Array;
  /** Receives the gradient with respect to the logits, rows x classes of the broadcast shape. */
  backprop?: Float32Array;
}

/** Arguments of {@link sigmoidCrossEntropyWithLogits}. */
export interface SigmoidCrossEntropyArgs {
  /** Targets, usually 0 or 1; soft labels are allowed. */
  labels: TensorLike;
  /** Unscaled log-odds, same shape as `labels`. */
  logits: TensorLike;
  /** Receives the element-wise losses. May be `labels` or `logits` itself. */
  out?: Float32Array;
}

/** Package version and instruction sets, as returned by {@link info}. */
export interface Info {
  /** The package version. */
  version: string;
  /** The instruction set whose kernels run in this process. */
  isa: IsaName;
  /** The instruction sets this CPU and build support, best first. */
  available: IsaName[];
}

function applyElementwise(kernel: (x: Float32Array, out: Float32Array) => void, x: unknown, options: unknown) {
  const { data } = toTensor(x, 'x');
  const { out } = requireOptions(options);
  const result = resolveOut(out, data.length, 'out', 'the length of "x"');
  kernel.call(binding, data, result);
  return result;
}

/**
 * Computes the rectified linear unit, `max(x, 0)`, element by element (tf.nn.relu). Exact; NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when `out` has the wrong length or overlaps `x` other than
 *   exactly, or a buffer is detached.
 * @example
 * relu(new Float32Array([-3, -1, 0, 2, 4])); // Float32Array [0, 0, 0, 2, 4]
 */
export function relu(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  return applyElementwise(binding.relu, x, options);
}

/**
 * Computes the logistic sigmoid, `1 / (1 + e^-x)`, element by element (tf.nn.sigmoid), within 2 ulp.
 * Results stay in [0, 1]: -inf gives 0, +inf gives 1, NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when `out` has the wrong length or overlaps `x` other than
 *   exactly, or a buffer is detached.
 * @example
 * sigmoid([0, 2]); // Float32Array [0.5, 0.880797]
 */
export function sigmoid(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  return applyElementwise(binding.sigmoid, x, options);
}

/**
 * Computes the hyperbolic tangent element by element (tf.nn.tanh, tf.math.tanh), within 2 ulp.
 * Results stay in [-1, 1]; -0 stays -0 and ±inf gives ±1.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when `out` has the wrong length or overlaps `x` other than
 *   exactly, or a buffer is detached.
 * @example
 * const x = new Float32Array([-1, 0, 1]);
 * tanh(x, { out: x }); // in place: x is now [-0.761594, 0, 0.761594]
 */
export function tanh(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  return applyElementwise(binding.tanh, x, options);
}

/**
 * Computes softmax along a class axis (tf.nn.softmax): `e^(x - max) / sum(e^(x - max))` per row, within
 * 8 ulp per element for rows of up to 65,536 classes. A row containing NaN or +inf, or only -inf, becomes
 * all NaN; -inf entries give 0.
 *
 * @param logits - Input values: a Float32Array (read in place) or nested numbers, whose nesting is the shape.
 * @param options - `shape` of a flat input (default `[length]`), class `axis` (default -1; any axis works,
 *   read with strides), and `out` for the result (it may be `logits` itself).
 * @returns `out`, or a new Float32Array of the input's length and layout.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when an argument or option has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when `shape` does not match the data, `out` has the wrong
 *   length or overlaps `logits` other than exactly, or a buffer is detached.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `axis` or a dimension is out of range.
 * @example
 * softmax(new Float32Array([2, 1, 0.1])); // Float32Array [0.659001, 0.242433, 0.0985659]
 * softmax(batch, { shape: [rows, 10], out: probabilities });
 */
export function softmax(logits: TensorLike, options?: SoftmaxOptions): Float32Array {
  const tensor = toTensor(logits, 'logits');
  const { shape: shapeOption, axis, out } = requireOptions(options);

  const shape = resolveShape(tensor, shapeOption, 'shape', 'logits');
  requireRank(shape, 'shape');
  const layout = rowLayout(shape, normalizeAxis(axis, shape.length));
  const result = resolveOut(out, tensor.data.length, 'out', 'the length of "logits"');

  binding.softmax(tensor.data, result, layout.rows, layout.classes, layout.inner);
  return result;
}

// Resolves the labels' shape for a cross-entropy; see SoftmaxCrossEntropyArgs.labelsShape.
function resolveLabelsShape(labels: Tensor, args: Record<string, unknown>, logitsShape: number[]): number[] {
  if (args.labelsShape !== undefined) {
    return resolveShape(labels, args.labelsShape, 'labelsShape', 'labels');
  }
  if (labels.nestedShape !== undefined) {
    return labels.nestedShape;
  }
  if (args.shape !== undefined) {
    return resolveShape(labels, args.shape, 'shape', 'labels');
  }
  return labels.data.length === shapeSize(logitsShape) ? logitsShape : [labels.data.length];
}

function broadcastDimension(labels: RowLayout, logits: RowLayout, key: 'rows' | 'classes', shapes: string): number {
  const a = labels[key];
  const b = logits[key];
  if (a === b || b === 1) {
    return a;
  }
  if (a === 1) {
    return b;
  }
  return invalidValue(
    'labels',
    `a shape that matches or broadcasts against "logits" (seen as rows x classes, each dimension equal ` +
      `or 1 on one side)`,
    shapes,
  );
}

/**
 * Computes softmax cross-entropy between labels and logits, one loss per row, with an optional fused
 * gradient (tf.nn.softmax_cross_entropy_with_logits and its raw op's backprop).
 *
 * Per row, with `s = x - max(x)` and `S = sum(e^s)`: loss = sum over labels z != 0 of `z * (log S - s)`,
 * within 8 ulp of max(|loss|, log S); backprop = `e^s / S - z`. A label of exactly 0 contributes nothing,
 * so -inf logits with zero labels are fine. A row containing NaN or +inf logits, or only -inf, gives NaN.
 * Labels and logits, each seen as rows x classes along `axis`, broadcast like TensorFlow's kernel allows:
 * each dimension equal, or 1 on one side (labels `[1, C]` for every row, for instance).
 *
 * @param args - `labels`, `logits`, their `shape` and `labelsShape` when flat, the class `axis`
 *   (default -1), `out` for the losses and `backprop` for the gradient (it may be `logits` itself when
 *   nothing broadcasts).
 * @returns `out`, or a new Float32Array with one loss per row (the shape without the class axis).
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when an argument has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when shapes do not match the data or do not broadcast, when
 *   `out` or `backprop` has the wrong length or overlaps an input, or when a buffer is detached.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `axis` or a dimension is out of range, or there are 0 classes.
 * @example
 * softmaxCrossEntropyWithLogits({ labels: [[1, 0, 0]], logits: [[2, 1, 0.1]] }); // Float32Array [0.41703]
 *
 * const backprop = new Float32Array(rows * classes);
 * const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
 */
export function softmaxCrossEntropyWithLogits(args: SoftmaxCrossEntropyArgs): Float32Array {
  const options = requireArgs(args);
  const logits = toTensor(options.logits, 'logits');
  const labels = toTensor(options.labels, 'labels');

  const logitsShape = resolveShape(logits, options.shape, 'shape', 'logits');
  const labelsShape = resolveLabelsShape(labels, options, logitsShape);
  requireRank(logitsShape, 'shape');
  requireRank(labelsShape, 'labelsShape');

  const logitsLayout = rowLayout(logitsShape, normalizeAxis(options.axis, logitsShape.length));
  const labelsLayout = rowLayout(labelsShape, normalizeAxis(options.axis, labelsShape.length));
  const shapes = `labels ${formatShape(labelsShape)} (${labelsLayout.rows} x ${labelsLayout.classes}) and ` +
    `logits ${formatShape(logitsShape)} (${logitsLayout.rows} x ${logitsLayout.classes})`;
  const rows = broadcastDimension(labelsLayout, logitsLayout, 'rows', shapes);
  const classes = broadcastDimension(labelsLayout, logitsLayout, 'classes', shapes);
  if (classes === 0) {
    outOfRange('logits', 'a tensor with at least 1 class along the class axis', shapes);
  }

  const loss = resolveOut(options.out, rows, 'out', 'one loss per row');
  let backprop: Float32Array | null = null;
  if (options.backprop !== undefined) {
    backprop = resolveOut(options.backprop, rows * classes, 'backprop', `${rows} rows x ${classes} classes`);
  }

  // The gradient takes the layout (class-axis position) of whichever input supplies the rows.
  const backpropInner = logitsLayout.rows === rows ? logitsLayout.inner : labelsLayout.inner;
  binding.softmaxCrossEntropy(
    labels.data,
    logits.data,
    loss,
    backprop,
    labelsLayout.rows,
    labelsLayout.classes,
    labelsLayout.inner,
    logitsLayout.rows,
    logitsLayout.classes,
    logitsLayout.inner,
    backpropInner,
  );
  return loss;
}

/**
 * Computes sigmoid cross-entropy element by element (tf.nn.sigmoid_cross_entropy_with_logits):
 * `max(x, 0) - x * z + log1p(e^-|x|)` for logits x and labels z, without reduction. Within 2 ulp of
 * max(|result|, log1p(e^-|x|)). At x = ±inf it returns the limit, 0 where the label cancels the infinite term.
 *
 * @param args - `labels` and `logits` of the same shape, and `out` for the result (it may be either input).
 * @returns `out`, or a new Float32Array of the inputs' length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when an argument has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when the shapes differ, `out` has the wrong length or overlaps
 *   an input other than exactly, or a buffer is detached.
 * @example
 * sigmoidCrossEntropyWithLogits({ labels: [[1, 0]], logits: [[0.8, -1.2]] }); // Float32Array [0.371101, 0.263282]
 */
export function sigmoidCrossEntropyWithLogits(args: SigmoidCrossEntropyArgs): Float32Array {
  const options = requireArgs(args);
  const labels = toTensor(options.labels, 'labels');
  const logits = toTensor(options.logits, 'logits');

  const labelsShape = labels.nestedShape ?? [labels.data.length];
  const logitsShape = logits.nestedShape ?? [logits.data.length];
  const bothNested = labels.nestedShape !== undefined && logits.nestedShape !== undefined;
  const mismatch = bothNested
    ? formatShape(labelsShape) !== formatShape(logitsShape)
    : labels.data.length !== logits.data.length;
  if (mismatch) {
    invalidValue(
      'labels',
      `a tensor of the same shape as "logits", ${formatShape(logitsShape)}`,
      `shape ${formatShape(labelsShape)}`,
    );
  }

  const result = resolveOut(options.out, logits.data.length, 'out', 'the length of "logits"');
  binding.sigmoidCrossEntropy(labels.data, logits.data, result);
  return result;
}

/**
 * Computes half the sum of squares, `sum(t^2) / 2` (tf.nn.l2_loss), accumulated in float64 so that it
 * neither overflows early nor loses precision on long inputs, then rounded to float32.
 *
 * @param t - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @returns The loss as a number (0 for an empty input).
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `t` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when its buffer is detached.
 * @example
 * l2Loss([1, 2, 3]); // 7
 */
export function l2Loss(t: TensorLike): number {
  const { data } = toTensor(t, 't');
  return binding.l2Loss(data);
}

/**
 * Reports the package version and the instruction set in use. The set is chosen once per process from the
 * CPU; `SIMD_NN_ISA=scalar|avx2|avx512` forces a lower one.
 *
 * @example
 * info(); // { version: '0.1.0', isa: 'avx512', available: ['avx512', 'avx2', 'scalar'] }
 */
export function info(): Info {
  const { isa, available } = binding.info();
  return { version, isa, available };
}
