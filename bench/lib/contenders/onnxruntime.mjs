// The onnxruntime-node contender: each op as a small ONNX graph built in memory (see ../onnx.mjs), run on the
// CPU execution provider with a fixed number of intra-op threads and caller-preallocated output tensors.

import { createRequire } from 'node:module';

import { encodeModel, graphForOp } from '../onnx.mjs';

const require = createRequire(import.meta.url);

function feedsFor(ort, op, data) {
  const { rows, classes, elements } = data;
  switch (op.kind) {
    case 'softmax':
      return { x: new ort.Tensor('float32', data.x, [rows, classes]) };
    case 'softmaxCrossEntropy':
      return {
        labels: new ort.Tensor('float32', data.labels, [rows, classes]),
        logits: new ort.Tensor('float32', data.logits, [rows, classes]),
      };
    case 'sigmoidCrossEntropy':
      return {
        labels: new ort.Tensor('float32', data.labels, [elements]),
        logits: new ort.Tensor('float32', data.logits, [elements]),
      };
    default:
      return { x: new ort.Tensor('float32', data.x, [elements]) };
  }
}

// Output arrays that onnxruntime writes into, keyed by the graph's output names.
function outputArraysFor(op, data) {
  const { rows, elements } = data;
  switch (op.kind) {
    case 'softmaxCrossEntropy':
      return op.backprop
        ? { loss: new Float32Array(rows), backprop: new Float32Array(elements) }
        : { loss: new Float32Array(rows) };
    case 'sigmoidCrossEntropy':
      return { loss: new Float32Array(elements) };
    case 'l2Loss':
      return { loss: new Float32Array(1) };
    default:
      return { y: new Float32Array(elements) };
  }
}

function outputDims(op, data, name) {
  if (op.kind === 'l2Loss') return [];
  if (op.kind === 'softmaxCrossEntropy') return name === 'loss' ? [data.rows] : [data.rows, data.classes];
  if (op.kind === 'softmax') return [data.rows, data.classes];
  return [data.elements];
}

/** Creates an onnxruntime-node contender with `options.threads` intra-op threads. */
export async function createContender(options) {
  const ort = require('onnxruntime-node');
  const sessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const sessions = new Map();

  async function sessionFor(op) {
    const key = `${op.kind}:${Boolean(op.backprop)}`;
    if (!sessions.has(key)) {
      const model = encodeModel(graphForOp(op.kind, Boolean(op.backprop)));
      sessions.set(key, await ort.InferenceSession.create(model, sessionOptions));
    }
    return sessions.get(key);
  }

  return {
    async prepare(op, data) {
      if (op.kind === 'copy') return { skip: 'onnxruntime has no copy pseudo-op' };
      // NOTE: SoftmaxCrossEntropyLoss takes class ids, but its gradient needs a graph of its own.
      if (op.kind === 'sparseSoftmaxCrossEntropy') return { skip: 'no ONNX graph is written for the sparse loss' };
      const session = await sessionFor(op);
      const feeds = feedsFor(ort, op, data);
      const arrays = outputArraysFor(op, data);
      const fetches = {};
      for (const [name, array] of Object.entries(arrays)) {
        fetches[name] = new ort.Tensor('float32', array, outputDims(op, data, name));
      }
      const primaryName = Object.keys(arrays)[0];
      return {
        isAsync: true,
        run: () => session.run(feeds, fetches),
        outputs: () => ({
          primary: op.kind === 'l2Loss' ? arrays.loss[0] : arrays[primaryName],
          backprop: arrays.backprop ?? null,
        }),
      };
    },
  };
}
