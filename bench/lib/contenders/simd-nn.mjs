// The simd-nn contender, called through the package's public API. With `allocate` it lets simd-nn allocate
// every result; without it the caller supplies `out` (and, for backprop variants, the gradient array).

import { pathToFileURL } from 'node:url';
import path from 'node:path';

// Turns a file path into a URL for import(); a bare specifier such as 'simd-nn' is returned unchanged.
function toImportSpecifier(moduleSpecifier) {
  const isPath = moduleSpecifier.startsWith('.') || path.isAbsolute(moduleSpecifier);
  return isPath ? pathToFileURL(path.resolve(moduleSpecifier)).href : moduleSpecifier;
}

/** Loads simd-nn from `moduleSpecifier` (default 'simd-nn') and returns its info() beside the module. */
export async function loadSimdNn(moduleSpecifier = 'simd-nn') {
  const simd = await import(toImportSpecifier(moduleSpecifier));
  return { simd, info: simd.info() };
}

function prepareElementwise(fn, data, allocate) {
  if (allocate) {
    let result = null;
    return {
      run: () => {
        result = fn(data.x);
      },
      outputs: () => ({ primary: result }),
    };
  }
  const out = new Float32Array(data.elements);
  return { run: () => fn(data.x, { out }), outputs: () => ({ primary: out }) };
}

function prepareSoftmax(simd, data, allocate) {
  const { rows, classes, elements } = data;
  if (allocate) {
    let result = null;
    return {
      run: () => {
        result = simd.softmax(data.x, { shape: [rows, classes] });
      },
      outputs: () => ({ primary: result }),
    };
  }
  const out = new Float32Array(elements);
  return {
    run: () => simd.softmax(data.x, { shape: [rows, classes], out }),
    outputs: () => ({ primary: out }),
  };
}

// The backprop array is always the caller's, because the API has no way to allocate it. In the allocating
// variant the caller allocates a fresh one per call, as code that keeps every gradient would. `fn` is the dense
// or the sparse softmax cross-entropy, and `labels` the distributions or the class ids.
function prepareCrossEntropy(fn, labels, op, data, allocate) {
  const { logits, rows, classes, elements } = data;
  const shape = [rows, classes];
  if (allocate) {
    let loss = null;
    let backprop = null;
    return {
      run: () => {
        backprop = op.backprop ? new Float32Array(elements) : undefined;
        loss = fn({ labels, logits, shape, backprop });
      },
      outputs: () => ({ primary: loss, backprop }),
    };
  }
  const out = new Float32Array(rows);
  const backprop = op.backprop ? new Float32Array(elements) : undefined;
  return {
    run: () => fn({ labels, logits, shape, out, backprop }),
    outputs: () => ({ primary: out, backprop }),
  };
}

function prepareSigmoidCrossEntropy(simd, data, allocate) {
  const { labels, logits } = data;
  if (allocate) {
    let result = null;
    return {
      run: () => {
        result = simd.sigmoidCrossEntropyWithLogits({ labels, logits });
      },
      outputs: () => ({ primary: result }),
    };
  }
  const out = new Float32Array(data.elements);
  return {
    run: () => simd.sigmoidCrossEntropyWithLogits({ labels, logits, out }),
    outputs: () => ({ primary: out }),
  };
}

/**
 * Creates the simd-nn contender. `options.allocate` selects the allocating variant and `options.module` the
 * module to import (a package name or a file path).
 */
export async function createContender(options) {
  const { simd, info } = await loadSimdNn(options.module);
  const allocate = Boolean(options.allocate);
  return {
    info,
    prepare(op, data) {
      switch (op.kind) {
        case 'relu':
        case 'sigmoid':
        case 'tanh':
          return prepareElementwise(simd[op.kind], data, allocate);
        // Added after 0.1.0's first functions; a module given with --module may predate them.
        case 'relu6':
        case 'leakyRelu':
        case 'softplus':
        case 'logSigmoid':
        case 'softsign':
        case 'silu':
          if (!simd[op.kind]) return { skip: `this simd-nn has no ${op.kind}` };
          return prepareElementwise(simd[op.kind], data, allocate);
        case 'softmax':
          return prepareSoftmax(simd, data, allocate);
        case 'softmaxCrossEntropy':
          return prepareCrossEntropy(simd.softmaxCrossEntropyWithLogits, data.labels, op, data, allocate);
        case 'sparseSoftmaxCrossEntropy':
          if (!simd.sparseSoftmaxCrossEntropyWithLogits) return { skip: 'this simd-nn has no sparse cross-entropy' };
          return prepareCrossEntropy(simd.sparseSoftmaxCrossEntropyWithLogits, data.classIds, op, data, allocate);
        case 'sigmoidCrossEntropy':
          return prepareSigmoidCrossEntropy(simd, data, allocate);
        case 'l2Loss': {
          if (allocate) return { skip: 'l2Loss returns a number, so it has no allocating variant' };
          let result = NaN;
          return {
            run: () => {
              result = simd.l2Loss(data.x);
            },
            outputs: () => ({ primary: result }),
          };
        }
        default:
          return { skip: `simd-nn has no ${op.kind}` };
      }
    },
  };
}
