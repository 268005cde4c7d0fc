/**
 * Promise versions of the simd-nn functions, run on the libuv thread pool so that the JavaScript thread stays
 * free. Each takes the same arguments as its synchronous namesake, computes the same bits, and rejects with
 * the same errors instead of throwing them.
 *
 * Memory: arrays backed by a SharedArrayBuffer are read and written in place. The caller could transfer or
 * resize any other array while the work runs. So such inputs are copied when the call starts, and such outputs
 * are written when it completes, after a check that they are still attached and the same length. For
 * zero-copy work off the JavaScript thread, allocate with `new Float32Array(new SharedArrayBuffer(bytes))`.
 * Each call costs tens of microseconds in thread-pool and promise overhead, so it pays off for large arrays.
 *
 * @example
 * import { promises as nn } from 'simd-nn';
 * const probabilities = await nn.softmax(logits, { shape: [rows, 1000] });
 */
import { binding } from './binding';
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

/**
 * Computes relu on the thread pool; see the synchronous `relu` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects with `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` as `relu` throws, and with
 *   `ERR_INVALID_ARG_VALUE` when a non-shared `out` was detached or resized before the result arrived.
 */
export async function relu(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.reluAsync(call.x, call.out);
  return call.out;
}

/**
 * Computes sigmoid on the thread pool; see the synchronous `sigmoid` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `sigmoid` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out` was
 *   detached or resized before the result arrived.
 */
export async function sigmoid(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.sigmoidAsync(call.x, call.out);
  return call.out;
}

/**
 * Computes tanh on the thread pool; see the synchronous `tanh` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `tanh` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out` was
 *   detached or resized before the result arrived.
 */
export async function tanh(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.tanhAsync(call.x, call.out);
  return call.out;
}

/**
 * Computes relu6 on the thread pool; see the synchronous `relu6` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `relu6` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out`
 *   was detached or resized before the result arrived.
 */
export async function relu6(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.relu6Async(call.x, call.out);
  return call.out;
}

/**
 * Computes the leaky relu on the thread pool; see the synchronous `leakyRelu` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `leakyRelu` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out`
 *   was detached or resized before the result arrived.
 * @throws {RangeError} Rejects with `ERR_OUT_OF_RANGE` as `leakyRelu` throws.
 */
export async function leakyRelu(x: TensorLike, options?: LeakyReluOptions): Promise<Float32Array> {
  const call = prepareLeakyRelu(x, options);
  await binding.leakyReluAsync(call.x, call.out, call.parameter);
  return call.out;
}

/**
 * Computes softplus on the thread pool; see the synchronous `softplus` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `softplus` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out`
 *   was detached or resized before the result arrived.
 */
export async function softplus(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.softplusAsync(call.x, call.out);
  return call.out;
}

/**
 * Computes the log of the sigmoid on the thread pool; see the synchronous `logSigmoid` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `logSigmoid` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out`
 *   was detached or resized before the result arrived.
 */
export async function logSigmoid(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.logSigmoidAsync(call.x, call.out);
  return call.out;
}

/**
 * Computes softsign on the thread pool; see the synchronous `softsign` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `softsign` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out`
 *   was detached or resized before the result arrived.
 */
export async function softsign(x: TensorLike, options?: ElementwiseOptions): Promise<Float32Array> {
  const call = prepareElementwise(x, options);
  await binding.softsignAsync(call.x, call.out);
  return call.out;
}

/**
 * Computes silu on the thread pool; see the synchronous `silu` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `silu` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out` was
 *   detached or resized before the result arrived.
 * @throws {RangeError} Rejects with `ERR_OUT_OF_RANGE` as `silu` throws.
 */
export async function silu(x: TensorLike, options?: SiluOptions): Promise<Float32Array> {
  const call = prepareSilu(x, options);
  await binding.siluAsync(call.x, call.out, call.parameter);
  return call.out;
}

/**
 * Computes softmax on the thread pool; see the synchronous `softmax` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `softmax` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared `out`
 *   was detached or resized before the result arrived.
 * @throws {RangeError} Rejects with `ERR_OUT_OF_RANGE` as `softmax` throws.
 */
export async function softmax(logits: TensorLike, options?: SoftmaxOptions): Promise<Float32Array> {
  const { logits: data, out, layout } = prepareSoftmax(logits, options);
  await binding.softmaxAsync(data, out, layout.rows, layout.classes, layout.inner);
  return out;
}

/**
 * Computes the softmax cross-entropy, and its gradient when `backprop` is given, on the thread pool; see the
 * synchronous `softmaxCrossEntropyWithLogits` for the contract.
 *
 * @returns A promise of the per-row losses (`out`, or a new Float32Array).
 * @throws {TypeError} Rejects as `softmaxCrossEntropyWithLogits` throws, and with `ERR_INVALID_ARG_VALUE` when
 *   a non-shared `out` or `backprop` was detached or resized before the result arrived.
 * @throws {RangeError} Rejects with `ERR_OUT_OF_RANGE` as `softmaxCrossEntropyWithLogits` throws.
 */
export async function softmaxCrossEntropyWithLogits(args: SoftmaxCrossEntropyArgs): Promise<Float32Array> {
  const call = prepareSoftmaxCrossEntropy(args);
  await invokeSoftmaxCrossEntropy(binding.softmaxCrossEntropyAsync, call);
  return call.loss;
}

/**
 * Computes the sparse softmax cross-entropy on the thread pool; see the synchronous
 * `sparseSoftmaxCrossEntropyWithLogits` for the contract.
 *
 * @returns A promise of the per-row losses (`out`, or a new Float32Array).
 * @throws {TypeError} Rejects as `sparseSoftmaxCrossEntropyWithLogits` throws, and with
 *   `ERR_INVALID_ARG_VALUE` when a non-shared `out` or `backprop` was detached or resized before the result
 *   arrived.
 * @throws {RangeError} Rejects with `ERR_OUT_OF_RANGE` as `sparseSoftmaxCrossEntropyWithLogits` throws.
 */
export async function sparseSoftmaxCrossEntropyWithLogits(args: SparseSoftmaxCrossEntropyArgs): Promise<Float32Array> {
  const { labels, logits, loss, backprop, rows, classes } = prepareSparseSoftmaxCrossEntropy(args);
  await binding.sparseSoftmaxCrossEntropyAsync(labels, logits, loss, backprop, rows, classes);
  return loss;
}

/**
 * Computes the sigmoid cross-entropy on the thread pool; see the synchronous `sigmoidCrossEntropyWithLogits`
 * for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `sigmoidCrossEntropyWithLogits` throws, and with `ERR_INVALID_ARG_VALUE` when
 *   a non-shared `out` was detached or resized before the result arrived.
 */
export async function sigmoidCrossEntropyWithLogits(args: SigmoidCrossEntropyArgs): Promise<Float32Array> {
  const { labels, logits, out } = prepareSigmoidCrossEntropy(args);
  await binding.sigmoidCrossEntropyAsync(labels, logits, out);
  return out;
}

/**
 * Computes the l2 normalization on the thread pool; see the synchronous `l2Normalize` for the contract.
 *
 * @returns A promise of `out`, or of a new Float32Array.
 * @throws {TypeError} Rejects as `l2Normalize` throws, and with `ERR_INVALID_ARG_VALUE` when a non-shared
 *   `out` was detached or resized before the result arrived.
 * @throws {RangeError} Rejects with `ERR_OUT_OF_RANGE` as `l2Normalize` throws.
 */
export async function l2Normalize(x: TensorLike, options?: L2NormalizeOptions): Promise<Float32Array> {
  const { x: data, out, layout, epsilon } = prepareL2Normalize(x, options);
  await binding.l2NormalizeAsync(data, out, layout.rows, layout.classes, layout.inner, epsilon);
  return out;
}

/**
 * Computes the l2 loss on the thread pool; see the synchronous `l2Loss` for the contract.
 *
 * @returns A promise of the loss.
 * @throws {TypeError} Rejects as `l2Loss` throws.
 */
export async function l2Loss(t: TensorLike): Promise<number> {
  return binding.l2LossAsync(prepareL2Loss(t));
}
