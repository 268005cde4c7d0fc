// The TensorFlow.js contenders: @tensorflow/tfjs on its CPU backend, and @tensorflow/tfjs-backend-wasm.
// Each call starts from Float32Arrays and ends with a Float32Array, as a caller without tensors of its own
// would use it: build the input tensors, run the op, read the result with dataSync(), dispose everything.

import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

// Points the wasm backend at the .wasm files inside node_modules. In Node the Emscripten loader reads them
// with fs, so no network is used. Node reports no cross-thread WebAssembly support to tfjs 4.22, so the
// backend loads tfjs-backend-wasm-simd.wasm (single-threaded, SIMD) or tfjs-backend-wasm.wasm.
function configureWasm() {
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
  wasm.setWasmPaths(path.dirname(wasmFile) + path.sep);
}

function prepareOp(tf, op, data) {
  const { rows, classes } = data;
  const none = tf.Reduction.NONE;
  let primary = null;
  let backprop = null;
  let run;
  switch (op.kind) {
    case 'relu':
    case 'sigmoid':
    case 'tanh':
    case 'relu6':
    case 'softplus':
    case 'logSigmoid': {
      const fn = tf[op.kind];
      run = () => tf.tidy(() => {
        primary = fn(tf.tensor1d(data.x)).dataSync();
      });
      break;
    }
    case 'leakyRelu':
      run = () => tf.tidy(() => {
        primary = tf.leakyRelu(tf.tensor1d(data.x), 0.2).dataSync();
      });
      break;
    case 'softmax':
      run = () => tf.tidy(() => {
        primary = tf.softmax(tf.tensor2d(data.x, [rows, classes])).dataSync();
      });
      break;
    case 'softmaxCrossEntropy':
      run = () => tf.tidy(() => {
        const labels = tf.tensor2d(data.labels, [rows, classes]);
        const logits = tf.tensor2d(data.logits, [rows, classes]);
        const lossOf = (x) => tf.losses.softmaxCrossEntropy(labels, x, undefined, 0, none);
        if (op.backprop) {
          // The loss has a custom gradient, (softmax(logits) - labels) * dy, with dy = 1 by default.
          const { value, grad } = tf.valueAndGrad(lossOf)(logits);
          primary = value.dataSync();
          backprop = grad.dataSync();
        } else {
          primary = lossOf(logits).dataSync();
        }
      });
      break;
    case 'sigmoidCrossEntropy':
      run = () => tf.tidy(() => {
        const labels = tf.tensor1d(data.labels);
        const logits = tf.tensor1d(data.logits);
        primary = tf.losses.sigmoidCrossEntropy(labels, logits, undefined, 0, none).dataSync();
      });
      break;
    case 'l2Loss':
      // tfjs has no l2Loss: sum(x * x) / 2 is its equivalent.
      run = () => tf.tidy(() => {
        primary = tf.mul(tf.sum(tf.square(tf.tensor1d(data.x))), 0.5).dataSync()[0];
      });
      break;
    default:
      return { skip: `tfjs has no ${op.kind}` };
  }
  return { run, outputs: () => ({ primary, backprop }) };
}

/** Creates a tfjs contender on `options.backend`, 'cpu' or 'wasm'. */
export async function createContender(options) {
  const tf = require('@tensorflow/tfjs');
  if (options.backend === 'wasm') configureWasm();
  if (!(await tf.setBackend(options.backend))) {
    throw new Error(`The tfjs "${options.backend}" backend failed to initialise.`);
  }
  await tf.ready();
  tf.enableProdMode();
  return {
    prepare: (op, data) => prepareOp(tf, op, data),
  };
}
