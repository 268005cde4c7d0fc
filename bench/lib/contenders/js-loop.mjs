// The plain JavaScript contender: each op written the obvious way, as a loop over the Float32Array that
// computes in float64 (JavaScript numbers) and writes into a caller-supplied output array.

function relu(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = Math.max(0, x[i]);
}

function sigmoid(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = 1 / (1 + Math.exp(-x[i]));
}

function tanh(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = Math.tanh(x[i]);
}

function relu6(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = Math.min(Math.max(0, x[i]), 6);
}

function leakyRelu(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = x[i] > 0 ? x[i] : 0.2 * x[i];
}

function softplus(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = Math.max(x[i], 0) + Math.log1p(Math.exp(-Math.abs(x[i])));
}

function logSigmoid(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = Math.min(x[i], 0) - Math.log1p(Math.exp(-Math.abs(x[i])));
}

function softsign(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = x[i] / (Math.abs(x[i]) + 1);
}

function silu(x, out) {
  for (let i = 0; i < x.length; i += 1) out[i] = x[i] / (1 + Math.exp(-x[i]));
}

function softmax(x, out, rows, classes) {
  for (let row = 0; row < rows; row += 1) {
    const base = row * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j += 1) max = Math.max(max, x[base + j]);
    let sum = 0;
    for (let j = 0; j < classes; j += 1) {
      const e = Math.exp(x[base + j] - max);
      out[base + j] = e;
      sum += e;
    }
    for (let j = 0; j < classes; j += 1) out[base + j] /= sum;
  }
}

// Returns log(sum(e^x)) over the row of `classes` logits at `base`, shifted by the row maximum.
function logSumExpRow(logits, base, classes) {
  let max = -Infinity;
  for (let j = 0; j < classes; j += 1) max = Math.max(max, logits[base + j]);
  let sum = 0;
  for (let j = 0; j < classes; j += 1) sum += Math.exp(logits[base + j] - max);
  return max + Math.log(sum);
}

// loss = logsumexp(logits) - sum(labels * logits) for labels that sum to 1; written as
// sum(labels * (logsumexp - logits)) so that it also matches TensorFlow for labels that do not.
function softmaxCrossEntropy(labels, logits, loss, backprop, rows, classes) {
  for (let row = 0; row < rows; row += 1) {
    const base = row * classes;
    const logSumExp = logSumExpRow(logits, base, classes);
    let rowLoss = 0;
    for (let j = 0; j < classes; j += 1) rowLoss += labels[base + j] * (logSumExp - logits[base + j]);
    loss[row] = rowLoss;
    if (backprop !== null) {
      for (let j = 0; j < classes; j += 1) {
        backprop[base + j] = Math.exp(logits[base + j] - logSumExp) - labels[base + j];
      }
    }
  }
}

// loss = logsumexp(logits) - logits[id]; the gradient is softmax(logits) - onehot(id).
function sparseSoftmaxCrossEntropy(classIds, logits, loss, backprop, rows, classes) {
  for (let row = 0; row < rows; row += 1) {
    const base = row * classes;
    const logSumExp = logSumExpRow(logits, base, classes);
    loss[row] = logSumExp - logits[base + classIds[row]];
    if (backprop !== null) {
      for (let j = 0; j < classes; j += 1) backprop[base + j] = Math.exp(logits[base + j] - logSumExp);
      backprop[base + classIds[row]] -= 1;
    }
  }
}

function sigmoidCrossEntropy(labels, logits, out) {
  for (let i = 0; i < logits.length; i += 1) {
    const x = logits[i];
    out[i] = Math.max(x, 0) - x * labels[i] + Math.log1p(Math.exp(-Math.abs(x)));
  }
}

function l2Loss(x) {
  let sum = 0;
  for (let i = 0; i < x.length; i += 1) sum += x[i] * x[i];
  return sum / 2;
}

/** Creates the plain-loop contender. */
export async function createContender() {
  return {
    prepare(op, data) {
      const { rows, classes, elements } = data;
      switch (op.kind) {
        case 'relu':
        case 'sigmoid':
        case 'tanh':
        case 'relu6':
        case 'leakyRelu':
        case 'softplus':
        case 'logSigmoid':
        case 'softsign':
        case 'silu': {
          const kernel = { relu, sigmoid, tanh, relu6, leakyRelu, softplus, logSigmoid, softsign, silu }[op.kind];
          const out = new Float32Array(elements);
          return { run: () => kernel(data.x, out), outputs: () => ({ primary: out }) };
        }
        case 'softmax': {
          const out = new Float32Array(elements);
          return { run: () => softmax(data.x, out, rows, classes), outputs: () => ({ primary: out }) };
        }
        case 'softmaxCrossEntropy': {
          const loss = new Float32Array(rows);
          const backprop = op.backprop ? new Float32Array(elements) : null;
          return {
            run: () => softmaxCrossEntropy(data.labels, data.logits, loss, backprop, rows, classes),
            outputs: () => ({ primary: loss, backprop }),
          };
        }
        case 'sparseSoftmaxCrossEntropy': {
          const loss = new Float32Array(rows);
          const backprop = op.backprop ? new Float32Array(elements) : null;
          return {
            run: () => sparseSoftmaxCrossEntropy(data.classIds, data.logits, loss, backprop, rows, classes),
            outputs: () => ({ primary: loss, backprop }),
          };
        }
        case 'sigmoidCrossEntropy': {
          const out = new Float32Array(elements);
          return { run: () => sigmoidCrossEntropy(data.labels, data.logits, out), outputs: () => ({ primary: out }) };
        }
        case 'l2Loss': {
          let result = NaN;
          return {
            run: () => {
              result = l2Loss(data.x);
            },
            outputs: () => ({ primary: result }),
          };
        }
        default:
          return { skip: `the plain loop has no ${op.kind}` };
      }
    },
  };
}
