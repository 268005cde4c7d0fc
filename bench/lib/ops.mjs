// The benchmarked ops: their shapes, seeded input data, float64 reference results and the error measure.
//
// `size` is the nominal element count of the main input. Ops with a class axis use floor(size / classes) rows, so
// `elements` (rows * classes) can be slightly below `size`. Every per-element figure divides by `elements`.

/**
 * Op descriptors. `kind` is the simd-nn function family and `classes` the length of the softmax axis:
 * a number, or 'row' for a single row of `size` classes (used by the small-call runs).
 */
export const OPS = [
  { id: 'relu', kind: 'relu', label: 'relu' },
  { id: 'sigmoid', kind: 'sigmoid', label: 'sigmoid' },
  { id: 'tanh', kind: 'tanh', label: 'tanh' },
  { id: 'relu6', kind: 'relu6', label: 'relu6' },
  { id: 'leaky-relu', kind: 'leakyRelu', label: 'leaky relu (alpha 0.2)' },
  { id: 'softplus', kind: 'softplus', label: 'softplus' },
  { id: 'log-sigmoid', kind: 'logSigmoid', label: 'log sigmoid' },
  { id: 'softsign', kind: 'softsign', label: 'softsign' },
  { id: 'silu', kind: 'silu', label: 'silu (beta 1)' },
  { id: 'softmax-c1000', kind: 'softmax', classes: 1000, label: 'softmax, 1000 classes' },
  { id: 'softmax-c10', kind: 'softmax', classes: 10, label: 'softmax, 10 classes' },
  { id: 'sce-c1000', kind: 'softmaxCrossEntropy', classes: 1000, label: 'softmax CE, 1000 classes' },
  { id: 'sce-c10', kind: 'softmaxCrossEntropy', classes: 10, label: 'softmax CE, 10 classes' },
  {
    id: 'sce-c1000-bp',
    kind: 'softmaxCrossEntropy',
    classes: 1000,
    backprop: true,
    label: 'softmax CE + backprop, 1000 classes',
  },
  {
    id: 'sce-c10-bp',
    kind: 'softmaxCrossEntropy',
    classes: 10,
    backprop: true,
    label: 'softmax CE + backprop, 10 classes',
  },
  {
    id: 'ssce-c1000-bp',
    kind: 'sparseSoftmaxCrossEntropy',
    classes: 1000,
    backprop: true,
    label: 'sparse softmax CE + backprop, 1000 classes',
  },
  {
    id: 'ssce-c10-bp',
    kind: 'sparseSoftmaxCrossEntropy',
    classes: 10,
    backprop: true,
    label: 'sparse softmax CE + backprop, 10 classes',
  },
  { id: 'sigmoid-ce', kind: 'sigmoidCrossEntropy', label: 'sigmoid CE' },
  { id: 'l2-loss', kind: 'l2Loss', label: 'l2 loss' },
];

/** Ops timed only in the small-call runs, where a class axis of 10 or 1000 does not fit into 1 to 256 elements. */
export const SMALL_CALL_OPS = [
  { id: 'relu', kind: 'relu', label: 'relu' },
  { id: 'sigmoid', kind: 'sigmoid', label: 'sigmoid' },
  { id: 'tanh', kind: 'tanh', label: 'tanh' },
  { id: 'softmax-row', kind: 'softmax', classes: 'row', label: 'softmax, one row of n' },
  { id: 'sce-row', kind: 'softmaxCrossEntropy', classes: 'row', label: 'softmax CE, one row of n' },
  { id: 'sigmoid-ce', kind: 'sigmoidCrossEntropy', label: 'sigmoid CE' },
  { id: 'l2-loss', kind: 'l2Loss', label: 'l2 loss' },
];

/** The pseudo-op timed by the copy-floor contender. */
export const COPY_OP = { id: 'copy', kind: 'copy', label: 'Float32Array.prototype.set' };

const ALL_OPS = [...OPS, ...SMALL_CALL_OPS, COPY_OP];

/** Finds an op descriptor by id. */
export function opById(id) {
  const op = ALL_OPS.find((candidate) => candidate.id === id);
  if (!op) throw new Error(`Unknown op id "${id}".`);
  return op;
}

/**
 * Selects the ops whose id or kind appears in `filter` (for example `relu,softmax` selects relu and every softmax
 * variant). A null filter selects all.
 */
export function selectOps(ops, filter) {
  if (!filter) return ops;
  return ops.filter((op) => filter.includes(op.id) || filter.includes(op.kind));
}

/** Returns the class count and row count of an op at a nominal size; elementwise ops have one class. */
export function shapeFor(op, size) {
  if (op.classes === undefined) return { rows: size, classes: 1, elements: size };
  const classes = op.classes === 'row' ? size : op.classes;
  const rows = Math.floor(size / classes);
  return { rows, classes, elements: rows * classes };
}

// xorshift32 (Marsaglia, "Xorshift RNGs", 2003): fast, seedable and good enough for benchmark inputs.
function createRandom(seed) {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

function seedFor(opId, size, stream) {
  let hash = 2166136261;
  for (const char of `${opId}:${size}:${stream}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 16777619);
  }
  return hash >>> 0;
}

function uniformArray(length, low, high, seed) {
  const random = createRandom(seed);
  const array = new Float32Array(length);
  const width = high - low;
  for (let i = 0; i < length; i += 1) array[i] = low + width * random();
  return array;
}

// Random probability distributions, one per row: uniform weights normalised to sum to 1 (in float32).
function distributionRows(rows, classes, seed) {
  const labels = uniformArray(rows * classes, 0, 1, seed);
  for (let row = 0; row < rows; row += 1) {
    const base = row * classes;
    let sum = 0;
    for (let j = 0; j < classes; j += 1) sum += labels[base + j];
    for (let j = 0; j < classes; j += 1) labels[base + j] /= sum;
  }
  return labels;
}

// Class ids uniform in [0, classes), one per row.
function classIdRows(rows, classes, seed) {
  const random = createRandom(seed);
  const ids = new Int32Array(rows);
  for (let row = 0; row < rows; row += 1) ids[row] = Math.min(classes - 1, Math.floor(random() * classes));
  return ids;
}

/**
 * Builds the inputs for an op at a nominal size. Every contender gets identical data for the same op and size,
 * because the seed depends only on those two.
 *
 * Elementwise inputs are uniform in [-8, 8], logits uniform in [-8, 8], softmax CE labels random distributions,
 * sparse softmax CE labels class ids uniform over the classes, and sigmoid CE labels uniform in [0, 1].
 */
export function makeData(op, size) {
  const shape = shapeFor(op, size);
  const data = { ...shape, size };
  switch (op.kind) {
    case 'softmaxCrossEntropy':
      data.logits = uniformArray(shape.elements, -8, 8, seedFor(op.id, size, 'logits'));
      data.labels = distributionRows(shape.rows, shape.classes, seedFor(op.id, size, 'labels'));
      break;
    case 'sparseSoftmaxCrossEntropy':
      data.logits = uniformArray(shape.elements, -8, 8, seedFor(op.id, size, 'logits'));
      data.classIds = classIdRows(shape.rows, shape.classes, seedFor(op.id, size, 'labels'));
      break;
    case 'sigmoidCrossEntropy':
      data.logits = uniformArray(shape.elements, -8, 8, seedFor(op.id, size, 'logits'));
      data.labels = uniformArray(shape.elements, 0, 1, seedFor(op.id, size, 'labels'));
      break;
    default:
      data.x = uniformArray(shape.elements, -8, 8, seedFor(op.id, size, 'x'));
  }
  return data;
}

/** Returns the length of the op's primary output (per-row losses, one scalar, or one value per element). */
export function primaryOutputLength(op, data) {
  if (op.kind === 'softmaxCrossEntropy' || op.kind === 'sparseSoftmaxCrossEntropy') return data.rows;
  if (op.kind === 'l2Loss') return 1;
  return data.elements;
}

// Float64Array.from(array, fn) takes seconds at 16M elements in Node 20; a plain loop takes milliseconds.
function mapToFloat64(array, fn) {
  const result = new Float64Array(array.length);
  for (let i = 0; i < array.length; i += 1) result[i] = fn(array[i]);
  return result;
}

function softmaxRowsReference(logits, rows, classes, withCrossEntropy, labels) {
  const probabilities = new Float64Array(rows * classes);
  const losses = new Float64Array(rows);
  for (let row = 0; row < rows; row += 1) {
    const base = row * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j += 1) max = Math.max(max, logits[base + j]);
    let sum = 0;
    for (let j = 0; j < classes; j += 1) {
      const e = Math.exp(logits[base + j] - max);
      probabilities[base + j] = e;
      sum += e;
    }
    const logSum = Math.log(sum);
    let loss = 0;
    for (let j = 0; j < classes; j += 1) {
      probabilities[base + j] /= sum;
      if (withCrossEntropy) loss += labels[base + j] * (max + logSum - logits[base + j]);
    }
    losses[row] = loss;
  }
  return { probabilities, losses };
}

/**
 * Computes the op in float64 from the same float32 inputs: `primary` (Float64Array or a number) and, for the
 * backprop variants, `backprop` (softmax(logits) - labels).
 */
export function reference(op, data) {
  switch (op.kind) {
    case 'relu':
      return { primary: mapToFloat64(data.x, (v) => Math.max(v, 0)) };
    case 'sigmoid':
      return { primary: mapToFloat64(data.x, (v) => 1 / (1 + Math.exp(-v))) };
    case 'tanh':
      return { primary: mapToFloat64(data.x, (v) => Math.tanh(v)) };
    case 'relu6':
      return { primary: mapToFloat64(data.x, (v) => Math.min(Math.max(v, 0), 6)) };
    case 'leakyRelu':
      return { primary: mapToFloat64(data.x, (v) => (v > 0 ? v : Math.fround(0.2) * v)) };
    case 'softplus':
      return { primary: mapToFloat64(data.x, (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)))) };
    case 'logSigmoid':
      return { primary: mapToFloat64(data.x, (v) => Math.min(v, 0) - Math.log1p(Math.exp(-Math.abs(v)))) };
    case 'softsign':
      return { primary: mapToFloat64(data.x, (v) => v / (Math.abs(v) + 1)) };
    case 'silu':
      return { primary: mapToFloat64(data.x, (v) => v / (1 + Math.exp(-v))) };
    case 'softmax':
      return { primary: softmaxRowsReference(data.x, data.rows, data.classes, false).probabilities };
    case 'softmaxCrossEntropy': {
      const { probabilities, losses } = softmaxRowsReference(data.logits, data.rows, data.classes, true, data.labels);
      if (!op.backprop) return { primary: losses };
      for (let i = 0; i < probabilities.length; i += 1) probabilities[i] -= data.labels[i];
      return { primary: losses, backprop: probabilities };
    }
    case 'sparseSoftmaxCrossEntropy': {
      const { probabilities } = softmaxRowsReference(data.logits, data.rows, data.classes, false);
      const losses = new Float64Array(data.rows);
      for (let row = 0; row < data.rows; row += 1) {
        const at = row * data.classes + data.classIds[row];
        losses[row] = -Math.log(probabilities[at]);
        probabilities[at] -= 1;
      }
      return op.backprop ? { primary: losses, backprop: probabilities } : { primary: losses };
    }
    case 'sigmoidCrossEntropy': {
      const { logits, labels } = data;
      const loss = new Float64Array(logits.length);
      for (let i = 0; i < logits.length; i += 1) {
        const x = logits[i];
        loss[i] = Math.max(x, 0) - x * labels[i] + Math.log1p(Math.exp(-Math.abs(x)));
      }
      return { primary: loss };
    }
    case 'l2Loss': {
      let sum = 0;
      for (const v of data.x) sum += v * v;
      return { primary: sum / 2 };
    }
    default:
      throw new Error(`No reference is defined for op kind "${op.kind}".`);
  }
}

// Maximum of |actual - expected| / |expected| over all elements. An expected 0 must be matched exactly, so a
// nonzero result there counts as an infinite relative error.
function maxRelativeError(actual, expected) {
  if (actual.length !== expected.length) {
    throw new Error(`Output length ${actual.length} does not match the reference length ${expected.length}.`);
  }
  let max = 0;
  for (let i = 0; i < expected.length; i += 1) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (difference === 0) continue;
    const error = expected[i] === 0 ? Infinity : difference / Math.abs(expected[i]);
    if (!(error <= max)) max = error;
  }
  return max;
}

function maxAbsoluteError(actual, expected) {
  let max = 0;
  for (let i = 0; i < expected.length; i += 1) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= max)) max = error;
  }
  return max;
}

/**
 * Compares a contender's outputs with the float64 reference. Returns `maxRelError` of the primary output and,
 * for backprop variants, `backpropMaxAbsError`: the gradient (softmax - labels) is a difference of nearly equal
 * values wherever the prediction is close to the label, so its relative error is not meaningful.
 */
export function measureError(op, expected, outputs) {
  const primary = typeof expected.primary === 'number' ? [expected.primary] : expected.primary;
  const actual = typeof outputs.primary === 'number' ? [outputs.primary] : outputs.primary;
  const result = { maxRelError: maxRelativeError(actual, primary) };
  if (expected.backprop) {
    if (!outputs.backprop) throw new Error(`The contender returned no backprop output for ${op.id}.`);
    result.backpropMaxAbsError = maxAbsoluteError(outputs.backprop, expected.backprop);
  }
  return result;
}
