/**
 * simd-nn: TensorFlow's tf.nn activations and losses as native SIMD kernels over Float32Array memory.
 *
 * Every function validates its arguments here, then passes the typed-array memory straight to C++. Inputs
 * given as Float32Array are read in place and never copied; nested number arrays are copied once into float32.
 * A call that throws has written nothing.
 */
import { createRequire } from 'node:module';

import { binding, type IsaName } from './binding';
import {
  prepareElementwise,
  prepareLeakyRelu,
  prepareSilu,
  prepareL2Loss,
  prepareL2Normalize,
  prepareSigmoidCrossEntropy,
  prepareSoftmax,
  prepareSoftmaxCrossEntropy,
  prepareSparseSoftmaxCrossEntropy,
  invokeSoftmaxCrossEntropy,
  type ElementwiseOptions,
  type LeakyReluOptions,
  type SiluOptions,
  type L2NormalizeOptions,
  type SigmoidCrossEntropyArgs,
  type SoftmaxCrossEntropyArgs,
  type SoftmaxOptions,
  type SparseSoftmaxCrossEntropyArgs,
} from './calls';
import type { TensorLike } from './tensor';

export type { ErrorCode, SimdNnError } from './errors';
export type { IsaName } from './binding';
export type { NestedNumbers, TensorLike } from './tensor';
export type {
  ElementwiseOptions,
  LeakyReluOptions,
  SiluOptions,
  L2NormalizeOptions,
  SigmoidCrossEntropyArgs,
  SoftmaxCrossEntropyArgs,
  SoftmaxOptions,
  SparseSoftmaxCrossEntropyArgs,
} from './calls';
export * as promises from './promises';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Package version and instruction sets, as returned by {@link info}. */
export interface Info {
  /** The package version. */
  version: string;
  /** The instruction set whose kernels run in this process. */
  isa: IsaName;
  /** The instruction sets this CPU and build support, best first. */
  available: IsaName[];
}

/**
 * Computes the rectified linear unit, `max(x, 0)`, element by element (tf.nn.relu). Exact; NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * relu(new Float32Array([-3, -1, 0, 2, 4])); // Float32Array [0, 0, 0, 2, 4]
 */
export function relu(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.relu(call.x, call.out);
  return call.out;
}

/**
 * Computes the logistic sigmoid, `1 / (1 + e^-x)`, element by element (tf.nn.sigmoid), within 2 ulp.
 * Results stay in [0, 1]: -inf gives 0, +inf gives 1, NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * sigmoid([0, 2]); // Float32Array [0.5, 0.880797]
 */
export function sigmoid(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.sigmoid(call.x, call.out);
  return call.out;
}

/**
 * Computes the hyperbolic tangent element by element (tf.nn.tanh, tf.math.tanh), within 2 ulp.
 * Results stay in [-1, 1]; -0 stays -0 and ±inf gives ±1.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * const x = new Float32Array([-1, 0, 1]);
 * tanh(x, { out: x }); // in place: x is now [-0.761594, 0, 0.761594]
 */
export function tanh(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.tanh(call.x, call.out);
  return call.out;
}

/**
 * Computes relu capped at 6, `min(max(x, 0), 6)`, element by element (tf.nn.relu6). Exact, and NaN
 * stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * relu6([-3, 2, 9]); // Float32Array [0, 2, 6]
 */
export function relu6(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.relu6(call.x, call.out);
  return call.out;
}

/**
 * Computes the leaky relu, `x > 0 ? x : alpha * x`, element by element (tf.nn.leaky_relu). Exact: one
 * rounding of `alpha * x`. Unlike TensorFlow's `max(x, alpha * x)`, the select is also right for `alpha > 1` and
 * `alpha < 0`. NaN stays NaN. -inf gives `alpha * -inf`, and the limit -0 when `alpha` is 0 (+0 for -0).
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `alpha`, the slope for x <= 0 (default 0.2, rounded to float32), and `out`, which receives
 *   the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x`, `out` or `alpha` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `alpha` is not finite once rounded to float32.
 * @example
 * leakyRelu([-10, 0, 3]); // Float32Array [-2, 0, 3]
 * leakyRelu(x, { alpha: 0.01, out: x }); // in place
 */
export function leakyRelu(x: TensorLike, options?: LeakyReluOptions): Float32Array {
  const call = prepareLeakyRelu(x, options);
  binding.leakyRelu(call.x, call.out, call.parameter);
  return call.out;
}

/**
 * Computes softplus, `log(1 + e^x)`, element by element (tf.nn.softplus, tf.math.softplus), within 2 ulp.
 * Evaluated as `max(x, 0) + log1p(e^-|x|)`, so nothing overflows, and the negative tail keeps its value
 * (softplus(-20) = 2.0611537e-9). -inf gives 0, +inf gives +inf, NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * softplus([-20, 0, 3]); // Float32Array [2.0611537e-9, 0.693147, 3.048587]
 */
export function softplus(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.softplus(call.x, call.out);
  return call.out;
}

/**
 * Computes the log of the sigmoid, `-softplus(-x)`, element by element (tf.math.log_sigmoid), within 2 ulp.
 * Large negative x give x itself (logSigmoid(-100) = -100, where the log of a rounded sigmoid gives -inf).
 * +inf gives -0, -inf gives -inf, NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * logSigmoid([-100, 0, 5]); // Float32Array [-100, -0.693147, -0.00671535]
 */
export function logSigmoid(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.logSigmoid(call.x, call.out);
  return call.out;
}

/**
 * Computes softsign, `x / (|x| + 1)`, element by element (tf.nn.softsign), within 1 ulp (in float64, rounded
 * once). ±inf gives ±1, where TensorFlow's formula gives NaN. -0 stays -0 and NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `out` receives the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x` or `out` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @example
 * softsign([-3, 0, 1, Infinity]); // Float32Array [-0.75, 0, 0.5, 1]
 */
export function softsign(x: TensorLike, options?: ElementwiseOptions): Float32Array {
  const call = prepareElementwise(x, options);
  binding.softsign(call.x, call.out);
  return call.out;
}

/**
 * Computes the sigmoid linear unit (swish), `x * sigmoid(beta * x)`, element by element (tf.nn.silu,
 * tf.nn.swish), within 2 ulp for any finite `beta`. `beta * x` is taken exactly, and the negative tail keeps its
 * value (silu(-90) = -7.3746e-38). At ±inf it gives the limit: `x` where `beta * x` is +inf or `beta` is 0, else
 * 0 with the sign of `x` (silu(-inf) = -0, where TensorFlow's formula gives NaN). -0 stays -0 and NaN stays NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @param options - `beta` (default 1, rounded to float32), and `out`, which receives the result (it may be `x`
 *   itself).
 * @returns `out`, or a new Float32Array of the same length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `x`, `out` or `beta` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `x` is ragged, `out` has the wrong length or
 *   overlaps `x` other than exactly, or a buffer is detached.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `beta` is not finite once rounded to float32.
 * @example
 * silu([-1, 0, 1]); // Float32Array [-0.268941, 0, 0.731059]
 * silu(x, { beta: 1.702, out: x }); // in place, the sigmoid approximation of GELU
 */
export function silu(x: TensorLike, options?: SiluOptions): Float32Array {
  const call = prepareSilu(x, options);
  binding.silu(call.x, call.out, call.parameter);
  return call.out;
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
  const { logits: data, out, layout } = prepareSoftmax(logits, options);
  binding.softmax(data, out, layout.rows, layout.classes, layout.inner);
  return out;
}

/**
 * Computes softmax cross-entropy between labels and logits, one loss per row, with an optional fused
 * gradient (tf.nn.softmax_cross_entropy_with_logits and its raw op's backprop).
 *
 * Per row, with `s = x - max(x)` and `S = sum(e^s)`: loss = sum over labels z != 0 of `z * (log S - s)`,
 * within 8 ulp of max(|loss|, log S) for non-negative labels. Labels of both signs cancel, and the bound is
 * then 8 ulp of sum(|z|) * log S. backprop = `e^s / S - z`, each element within 4 ulp of max(e^s / S, |z|).
 * A label of exactly 0 contributes nothing, so -inf logits with zero labels are fine. A row containing NaN or +inf logits, or only -inf, gives NaN.
 * Labels and logits, each seen as rows x classes along `axis`, broadcast like TensorFlow's kernel allows:
 * each dimension equal, or 1 on one side (labels `[1, C]` for every row, for instance).
 *
 * @param args - `labels`, `logits`, their `shape` and `labelsShape` when flat, the class `axis`
 *   (default -1), `out` for the losses and `backprop` for the gradient (it may be `logits` itself when the
 *   logits have the full broadcast shape).
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
  const call = prepareSoftmaxCrossEntropy(args);
  invokeSoftmaxCrossEntropy(binding.softmaxCrossEntropy, call);
  return call.loss;
}

/**
 * Computes softmax cross-entropy against class ids, one loss per row, with an optional fused gradient
 * (tf.nn.sparse_softmax_cross_entropy_with_logits): `log S - s[label]` with `s = x - max(x)` and
 * `S = sum(e^s)`, and backprop = `e^s / S - onehot(label)`. The result is that of
 * `softmaxCrossEntropyWithLogits` with one-hot labels, bit for bit, with its bounds: the loss within 8 ulp of
 * max(loss, log S), each gradient element within 4 ulp of max(e^s / S, its one-hot label). A row containing
 * NaN or +inf logits, or only -inf, gives NaN. The classes lie along the last axis of the logits.
 *
 * @param args - `labels`, one class id per row: an Int32Array (read in place) or integers. Nested labels
 *   must have the logits' shape without its last axis. Then `logits`, their `shape` when flat (default one
 *   row), `out` for the losses and `backprop` for the gradient (it may be `logits` itself). `axis` may only
 *   name the last axis. An id that another thread changes to one out of range during the call (shared
 *   memory) gives its row NaN, never a write out of bounds.
 * @returns `out`, or a new Float32Array with one loss per row.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when an argument has the wrong type (labels in a Float32Array
 *   included: class ids are integers).
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when the shapes or lengths do not match, when `out` or
 *   `backprop` overlaps an input (backprop may be exactly `logits`), or when a buffer is detached.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when a class id is not an integer in [0, classes - 1] (the message
 *   names the row and the id), when there are 0 classes, or when `axis` is not the last axis. Nothing is
 *   written.
 * @example
 * sparseSoftmaxCrossEntropyWithLogits({ labels: [0], logits: [[2, 1, 0.1]] }); // Float32Array [0.41703]
 *
 * const loss = sparseSoftmaxCrossEntropyWithLogits({ labels: classIds, logits, shape: [rows, 10], backprop });
 */
export function sparseSoftmaxCrossEntropyWithLogits(args: SparseSoftmaxCrossEntropyArgs): Float32Array {
  const { labels, logits, loss, backprop, rows, classes } = prepareSparseSoftmaxCrossEntropy(args);
  binding.sparseSoftmaxCrossEntropy(labels, logits, loss, backprop, rows, classes);
  return loss;
}

/**
 * Computes sigmoid cross-entropy element by element (tf.nn.sigmoid_cross_entropy_with_logits):
 * `max(x, 0) - x * z + log1p(e^-|x|)` for logits x and labels z, without reduction. Within 2 ulp of
 * max(|result|, log1p(e^-|x|)). At x = ±inf it returns the limit, 0 where the label cancels the infinite term.
 *
 * @param args - `labels` and `logits` of the same shape, and `out` for the result (it may be either input).
 *   A Float32Array carries no shape, so beside a nested array it only needs the same number of elements.
 * @returns `out`, or a new Float32Array of the inputs' length.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when an argument has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when the shapes differ, `out` has the wrong length or overlaps
 *   an input other than exactly, or a buffer is detached.
 * @example
 * sigmoidCrossEntropyWithLogits({ labels: [[1, 0]], logits: [[0.8, -1.2]] }); // Float32Array [0.371101, 0.263282]
 */
export function sigmoidCrossEntropyWithLogits(args: SigmoidCrossEntropyArgs): Float32Array {
  const { labels, logits, out } = prepareSigmoidCrossEntropy(args);
  binding.sigmoidCrossEntropy(labels, logits, out);
  return out;
}

/**
 * Computes half the sum of squares, `sum(t^2) / 2` (tf.nn.l2_loss), accumulated in float64 so that it
 * neither overflows early nor loses precision on long inputs, then rounded to float32.
 *
 * @param t - Input values: a Float32Array (read in place) or an array of numbers, nested to any depth.
 * @returns The loss as a number (0 for an empty input).
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `t` has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when nested `t` is ragged or its buffer is detached.
 * @example
 * l2Loss([1, 2, 3]); // 7
 */
export function l2Loss(t: TensorLike): number {
  return binding.l2Loss(prepareL2Loss(t));
}

/**
 * Divides by the l2 norm along an axis (tf.nn.l2_normalize): `x / sqrt(max(sum(x^2), epsilon))`, the sum
 * accumulated in float64 so that it neither overflows nor underflows early, and each result within 1 ulp. A
 * zero vector gives zeros. A vector with one infinite entry gives its limit, ±1 there and ±0 elsewhere
 * (TensorFlow: NaN). A vector with NaN, or with two or more infinite entries, gives NaN.
 *
 * @param x - Input values: a Float32Array (read in place) or nested numbers, whose nesting is the shape.
 * @param options - `shape` of a flat input, the `axis` to normalize along (default: all elements together),
 *   `epsilon` (default 1e-12) and `out` for the result (it may be `x` itself).
 * @returns `out`, or a new Float32Array of the input's length and layout.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when an argument or option has the wrong type.
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when `shape` does not match the data, `out` has the wrong
 *   length or overlaps `x` other than exactly, or a buffer is detached.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `axis` is out of range or `epsilon` is not a positive finite
 *   number.
 * @example
 * l2Normalize([3, 4]); // Float32Array [0.6, 0.8]
 * l2Normalize(embeddings, { shape: [count, 768], axis: -1, out: embeddings }); // each row to unit length
 */
export function l2Normalize(x: TensorLike, options?: L2NormalizeOptions): Float32Array {
  const { x: data, out, layout, epsilon } = prepareL2Normalize(x, options);
  binding.l2Normalize(data, out, layout.rows, layout.classes, layout.inner, epsilon);
  return out;
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
