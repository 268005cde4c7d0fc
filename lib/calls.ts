/**
 * Argument preparation shared by the synchronous functions and their promise versions: each prepare function
 * validates a call completely, allocates any missing output, and returns what the binding needs. Nothing is
 * written before a prepare function returns.
 */
import type { Binding } from './binding';
import { formatShape, invalidType, invalidValue, outOfRange } from './errors';
import {
  bindingLayout,
  elementCount,
  normalizeAxis,
  requireArgs,
  requireOptions,
  requireRank,
  resolveOut,
  resolveShape,
  rowLayout,
  shapeSize,
  toClassIds,
  toTensor,
  type NestedNumbers,
  type RowLayout,
  type Tensor,
  type TensorLike,
} from './tensor';

/** Options of the element-wise activations. */
export interface ElementwiseOptions {
  /** Receives the result; same length as the input. May be the input itself for in-place use. */
  out?: Float32Array;
}

/** Options of {@link leakyRelu}. */
export interface LeakyReluOptions extends ElementwiseOptions {
  /** Slope for x <= 0, any finite number (default 0.2, TensorFlow's). Rounded to float32. */
  alpha?: number;
}

/** Options of {@link silu}. */
export interface SiluOptions extends ElementwiseOptions {
  /** Factor of x inside the sigmoid, any finite number (default 1, TensorFlow's). Rounded to float32. */
  beta?: number;
}

/** Options of {@link softmax}. */
export interface SoftmaxOptions {
  /** Shape of a flat input (default `[length]`). For nested input it must equal the nesting. */
  shape?: readonly number[];
  /** Class axis, negative counting from the end (default -1). */
  axis?: number;
  /** Receives the probabilities; same length as the input. May be the input itself. */
  out?: Float32Array;
}

/** Options of {@link l2Normalize}. */
export interface L2NormalizeOptions {
  /** Shape of a flat input (default `[length]`). For nested input it must equal the nesting. */
  shape?: readonly number[];
  /** The axis to normalize along, negative counting from the end (default: all elements together). */
  axis?: number;
  /** Lower bound of the sum of squares, a positive finite number (default 1e-12, TensorFlow's). */
  epsilon?: number;
  /** Receives the result; same length as the input. May be the input itself. */
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

/** Arguments of {@link sparseSoftmaxCrossEntropyWithLogits}. */
export interface SparseSoftmaxCrossEntropyArgs {
  /** One class id per row, each an integer in [0, classes - 1]: an Int32Array (read in place) or integers. */
  labels: Int32Array | readonly NestedNumbers[];
  /** Unscaled log-probabilities, rows x classes with the classes along the last axis. */
  logits: TensorLike;
  /** Shape of flat logits (default `[length]`, one row). */
  shape?: readonly number[];
  /** The class axis: only the last one, -1 (the default) or rank - 1, as in TensorFlow. */
  axis?: number;
  /** Receives the loss of each row. */
  out?: Float32Array;
  /** Receives the gradient with respect to the logits, of the logits' shape. May be `logits` itself. */
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

/** A checked element-wise call: the input data and the output it writes. */
export interface ElementwiseCall {
  x: Float32Array;
  out: Float32Array;
}

/** A checked element-wise call with one number parameter (leaky relu's alpha, silu's beta), rounded to float32. */
export interface ParameterizedCall extends ElementwiseCall {
  parameter: number;
}

/** A checked l2 normalization. */
export interface L2NormalizeCall {
  x: Float32Array;
  out: Float32Array;
  layout: RowLayout;
  epsilon: number;
}

/** A checked softmax call. */
export interface SoftmaxCall {
  logits: Float32Array;
  out: Float32Array;
  layout: RowLayout;
}

/**
 * A checked softmax cross-entropy call: the binding's arguments by name. `loss` is also what the call returns.
 * Each layout is the binding's (see bindingLayout).
 */
export interface SoftmaxCrossEntropyCall {
  labels: Float32Array;
  logits: Float32Array;
  loss: Float32Array;
  backprop: Float32Array | null;
  labelsLayout: RowLayout;
  logitsLayout: RowLayout;
  backpropInner: number;
}

/** A checked sparse softmax cross-entropy call: the binding's arguments by name. */
export interface SparseSoftmaxCrossEntropyCall {
  labels: Int32Array;
  logits: Float32Array;
  loss: Float32Array;
  backprop: Float32Array | null;
  rows: number;
  classes: number;
}

/** A checked sigmoid cross-entropy call. */
export interface SigmoidCrossEntropyCall {
  labels: Float32Array;
  logits: Float32Array;
  out: Float32Array;
}

export function prepareElementwise(x: unknown, options: unknown): ElementwiseCall {
  const { data, length } = toTensor(x, 'x');
  const { out } = requireOptions(options);
  return { x: data, out: resolveOut(out, length, 'out', 'the length of "x"') };
}

/** TensorFlow's default slope of tf.nn.leaky_relu. */
const DEFAULT_LEAKY_ALPHA = 0.2;
/** TensorFlow's default beta of tf.nn.silu. */
const DEFAULT_SILU_BETA = 1;

// Checks an element-wise call whose options carry one number parameter besides `out`, and rounds the parameter
// to float32, where it must be finite.
function prepareParameterized(x: unknown, options: unknown, name: string, defaultValue: number): ParameterizedCall {
  const { data, length } = toTensor(x, 'x');
  const { [name]: option, out } = requireOptions(options);

  let parameter = Math.fround(defaultValue);
  if (option !== undefined) {
    if (typeof option !== 'number') {
      invalidType(name, 'of type number', option);
    }
    parameter = Math.fround(option);
    if (!Number.isFinite(parameter)) {
      outOfRange(name, 'a finite number in float32 range', String(option));
    }
  }

  return { x: data, out: resolveOut(out, length, 'out', 'the length of "x"'), parameter };
}

export function prepareLeakyRelu(x: unknown, options: unknown): ParameterizedCall {
  return prepareParameterized(x, options, 'alpha', DEFAULT_LEAKY_ALPHA);
}

export function prepareSilu(x: unknown, options: unknown): ParameterizedCall {
  return prepareParameterized(x, options, 'beta', DEFAULT_SILU_BETA);
}

export function prepareSoftmax(logits: unknown, options: unknown): SoftmaxCall {
  const tensor = toTensor(logits, 'logits');
  const { shape: shapeOption, axis, out } = requireOptions(options);

  const shape = resolveShape(tensor, shapeOption, 'shape', 'logits');
  requireRank(shape, 'shape');
  const layout = rowLayout(shape, normalizeAxis(axis, shape.length));
  const result = resolveOut(out, tensor.length, 'out', 'the length of "logits"');
  return { logits: tensor.data, out: result, layout: bindingLayout(layout, tensor.length) };
}

/** TensorFlow's default epsilon of tf.nn.l2_normalize. */
const DEFAULT_L2_EPSILON = 1e-12;

export function prepareL2Normalize(x: unknown, options: unknown): L2NormalizeCall {
  const tensor = toTensor(x, 'x');
  const { shape: shapeOption, axis, epsilon: epsilonOption, out } = requireOptions(options);

  const shape = resolveShape(tensor, shapeOption, 'shape', 'x');
  let layout: RowLayout = { rows: 1, classes: tensor.length, inner: 1 };
  if (axis !== undefined) {
    requireRank(shape, 'shape');
    layout = rowLayout(shape, normalizeAxis(axis, shape.length));
  }

  let epsilon = DEFAULT_L2_EPSILON;
  if (epsilonOption !== undefined) {
    if (typeof epsilonOption !== 'number') {
      invalidType('epsilon', 'of type number', epsilonOption);
    }
    if (!(epsilonOption > 0 && Number.isFinite(epsilonOption))) {
      outOfRange('epsilon', 'a positive finite number', String(epsilonOption));
    }
    epsilon = epsilonOption;
  }

  const result = resolveOut(out, tensor.length, 'out', 'the length of "x"');
  return { x: tensor.data, out: result, layout: bindingLayout(layout, tensor.length), epsilon };
}

// Resolves the labels' shape for a cross-entropy; see SoftmaxCrossEntropyArgs.labelsShape.
function resolveLabelsShape(
  labels: Tensor,
  labelsShapeOption: unknown,
  shapeOption: unknown,
  logitsShape: number[],
): number[] {
  if (labelsShapeOption !== undefined) {
    return resolveShape(labels, labelsShapeOption, 'labelsShape', 'labels');
  }
  if (labels.nestedShape !== undefined) {
    return labels.nestedShape;
  }
  if (shapeOption !== undefined) {
    return resolveShape(labels, shapeOption, 'shape', 'labels');
  }
  return labels.length === shapeSize(logitsShape) ? logitsShape : [labels.length];
}

// Describes both shapes and their rows x classes views, for the message of a broadcast error.
function describeBroadcastShapes(
  labelsShape: number[],
  labelsLayout: RowLayout,
  logitsShape: number[],
  logitsLayout: RowLayout,
): string {
  return (
    `labels ${formatShape(labelsShape)} (${labelsLayout.rows} x ${labelsLayout.classes}) and ` +
    `logits ${formatShape(logitsShape)} (${logitsLayout.rows} x ${logitsLayout.classes})`
  );
}

// Returns the broadcast size of one dimension (rows or classes) of labels and logits, or -1 when the sizes
// neither match nor have a 1 on one side.
function broadcastDimension(labels: number, logits: number): number {
  if (labels === logits || logits === 1) {
    return labels;
  }
  return labels === 1 ? logits : -1;
}

export function prepareSoftmaxCrossEntropy(args: unknown): SoftmaxCrossEntropyCall {
  // Each property is read once, so that a getter cannot give one check a different value than the next.
  const {
    logits: logitsArgument,
    labels: labelsArgument,
    shape: shapeOption,
    labelsShape: labelsShapeOption,
    axis,
    out,
    backprop: backpropOption,
  } = requireArgs(args);
  const logits = toTensor(logitsArgument, 'logits');
  const labels = toTensor(labelsArgument, 'labels');

  const logitsShape = resolveShape(logits, shapeOption, 'shape', 'logits');
  const labelsShape = resolveLabelsShape(labels, labelsShapeOption, shapeOption, logitsShape);
  requireRank(logitsShape, 'shape');
  requireRank(labelsShape, 'labelsShape');

  const logitsLayout = rowLayout(logitsShape, normalizeAxis(axis, logitsShape.length, 'logits', logitsShape));
  const labelsLayout = rowLayout(labelsShape, normalizeAxis(axis, labelsShape.length, 'labels', labelsShape));
  const rows = broadcastDimension(labelsLayout.rows, logitsLayout.rows);
  const classes = broadcastDimension(labelsLayout.classes, logitsLayout.classes);
  if (rows < 0 || classes < 0) {
    invalidValue(
      'labels',
      `a shape that matches or broadcasts against "logits" (seen as rows x classes, each dimension equal ` +
        `or 1 on one side)`,
      describeBroadcastShapes(labelsShape, labelsLayout, logitsShape, logitsLayout),
    );
  }
  if (classes === 0) {
    outOfRange(
      'logits',
      'a tensor with at least 1 class along the class axis',
      describeBroadcastShapes(labelsShape, labelsLayout, logitsShape, logitsLayout),
    );
  }

  const loss = resolveOut(out, rows, 'out', 'one loss per row');
  let backprop: Float32Array | null = null;
  if (backpropOption !== undefined) {
    backprop = resolveOut(backpropOption, rows * classes, 'backprop', `${rows} rows x ${classes} classes`);
  }

  // The gradient takes the layout (class-axis position) of whichever input supplies the rows.
  let backpropInner = 1;
  if (rows > 0) {
    backpropInner = logitsLayout.rows === rows ? logitsLayout.inner : labelsLayout.inner;
  }
  return {
    labels: labels.data,
    logits: logits.data,
    loss,
    backprop,
    labelsLayout: bindingLayout(labelsLayout, labels.length),
    logitsLayout: bindingLayout(logitsLayout, logits.length),
    backpropInner,
  };
}

/**
 * Calls `kernel`, the binding's softmaxCrossEntropy or its promise version, with the arguments of a checked
 * call, listed one by one rather than spread from an array, which costs more per call. The binding's methods
 * do not use `this`, so the call needs no receiver (and no `Function.prototype.call`, which a program may
 * have replaced).
 */
export function invokeSoftmaxCrossEntropy<R>(
  kernel: (...args: Parameters<Binding['softmaxCrossEntropy']>) => R,
  call: SoftmaxCrossEntropyCall,
): R {
  const { labelsLayout, logitsLayout } = call;
  return kernel(
    call.labels,
    call.logits,
    call.loss,
    call.backprop,
    labelsLayout.rows,
    labelsLayout.classes,
    labelsLayout.inner,
    logitsLayout.rows,
    logitsLayout.classes,
    logitsLayout.inner,
    call.backpropInner,
  );
}

export function prepareSparseSoftmaxCrossEntropy(args: unknown): SparseSoftmaxCrossEntropyCall {
  // Each property is read once, as in prepareSoftmaxCrossEntropy.
  const {
    logits: logitsArgument,
    labels: labelsArgument,
    shape: shapeOption,
    axis,
    out,
    backprop: backpropOption,
  } = requireArgs(args);
  const logits = toTensor(logitsArgument, 'logits');

  const logitsShape = resolveShape(logits, shapeOption, 'shape', 'logits');
  requireRank(logitsShape, 'shape');
  // The dense function takes `axis`; this one, like TensorFlow's, has its classes along the last axis only.
  // Another axis is rejected rather than ignored, since it would silently change which entries form a row.
  if (axis !== undefined && normalizeAxis(axis, logitsShape.length) !== logitsShape.length - 1) {
    outOfRange('axis', `the last axis, -1 or ${logitsShape.length - 1}, where the classes are`, String(axis));
  }
  const { rows, classes } = rowLayout(logitsShape, logitsShape.length - 1);
  if (classes === 0) {
    outOfRange('logits', 'a tensor with at least 1 class along its last axis', `shape ${formatShape(logitsShape)}`);
  }

  const labels = toClassIds(labelsArgument, 'labels', classes);
  const rowShape = logitsShape.slice(0, -1);
  if (labels.nestedShape !== undefined && formatShape(labels.nestedShape) !== formatShape(rowShape)) {
    invalidValue(
      'labels',
      `a tensor of shape ${formatShape(rowShape)}, the shape of "logits" without its class axis`,
      `shape ${formatShape(labels.nestedShape)}`,
    );
  }
  const labelCount = elementCount(labels.data);
  if (labelCount !== rows) {
    invalidValue(
      'labels',
      `a list of one class id per row of "logits" ${formatShape(logitsShape)}, ${rows} in all`,
      labelCount === 1 ? '1 id' : `${labelCount} ids`,
    );
  }

  const loss = resolveOut(out, rows, 'out', 'one loss per row');
  let backprop: Float32Array | null = null;
  if (backpropOption !== undefined) {
    backprop = resolveOut(backpropOption, rows * classes, 'backprop', 'the length of "logits"');
  }
  return { labels: labels.data, logits: logits.data, loss, backprop, rows, classes };
}

export function prepareSigmoidCrossEntropy(args: unknown): SigmoidCrossEntropyCall {
  const { labels: labelsArgument, logits: logitsArgument, out: outOption } = requireArgs(args);
  const labels = toTensor(labelsArgument, 'labels');
  const logits = toTensor(logitsArgument, 'logits');

  const labelsShape = labels.nestedShape ?? [labels.length];
  const logitsShape = logits.nestedShape ?? [logits.length];
  const bothNested = labels.nestedShape !== undefined && logits.nestedShape !== undefined;
  const mismatch = bothNested
    ? formatShape(labelsShape) !== formatShape(logitsShape)
    : labels.length !== logits.length;
  if (mismatch) {
    invalidValue(
      'labels',
      `a tensor of the same shape as "logits", ${formatShape(logitsShape)}`,
      `shape ${formatShape(labelsShape)}`,
    );
  }

  const out = resolveOut(outOption, logits.length, 'out', 'the length of "logits"');
  return { labels: labels.data, logits: logits.data, out };
}

export function prepareL2Loss(t: unknown): Float32Array {
  return toTensor(t, 't').data;
}
