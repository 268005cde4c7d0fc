import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { describe, expect, test } from 'vitest';

import * as nn from '../lib/index';
import { describeEachIsa } from './support/isa';
import { createRandom, oneHot, uniform } from './support/reference';

const { promises } = nn;

function sharedCopy(values: Float32Array): Float32Array {
  const shared = new Float32Array(new SharedArrayBuffer(values.byteLength));
  shared.set(values);
  return shared;
}

function detach(view: Float32Array): void {
  structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('The promise resolved; a rejection was expected.');
}

describeEachIsa('promises', () => {
  const random = createRandom(61);
  const rows = 37;
  const classes = 29;
  const x = uniform(random, rows * classes, -6, 6);
  const labels = oneHot(random, rows, classes);

  test('same bits as the synchronous functions', async () => {
    expect(Array.from(await promises.relu(x))).toEqual(Array.from(nn.relu(x)));
    expect(Array.from(await promises.sigmoid(x))).toEqual(Array.from(nn.sigmoid(x)));
    expect(Array.from(await promises.tanh(x))).toEqual(Array.from(nn.tanh(x)));
    expect(Array.from(await promises.relu6(x))).toEqual(Array.from(nn.relu6(x)));
    expect(Array.from(await promises.leakyRelu(x))).toEqual(Array.from(nn.leakyRelu(x)));
    expect(Array.from(await promises.leakyRelu(x, { alpha: -2 }))).toEqual(Array.from(nn.leakyRelu(x, { alpha: -2 })));
    expect(Array.from(await promises.softplus(x))).toEqual(Array.from(nn.softplus(x)));
    expect(Array.from(await promises.logSigmoid(x))).toEqual(Array.from(nn.logSigmoid(x)));
    expect(Array.from(await promises.softsign(x))).toEqual(Array.from(nn.softsign(x)));
    expect(Array.from(await promises.silu(x, { beta: 0.5 }))).toEqual(Array.from(nn.silu(x, { beta: 0.5 })));
    expect(Array.from(await promises.softmax(x, { shape: [rows, classes] }))).toEqual(
      Array.from(nn.softmax(x, { shape: [rows, classes] })),
    );
    expect(Array.from(await promises.softmax(x, { shape: [rows, classes], axis: 0 }))).toEqual(
      Array.from(nn.softmax(x, { shape: [rows, classes], axis: 0 })),
    );
    expect(Array.from(await promises.sigmoidCrossEntropyWithLogits({ labels, logits: x }))).toEqual(
      Array.from(nn.sigmoidCrossEntropyWithLogits({ labels, logits: x })),
    );
    expect(await promises.l2Loss(x)).toBe(nn.l2Loss(x));
  });

  test('cross-entropy loss and backprop match', async () => {
    const backprop = new Float32Array(rows * classes);
    const expectedBackprop = new Float32Array(rows * classes);
    const loss = await promises.softmaxCrossEntropyWithLogits({ labels, logits: x, shape: [rows, classes], backprop });
    const expectedLoss = nn.softmaxCrossEntropyWithLogits({
      labels,
      logits: x,
      shape: [rows, classes],
      backprop: expectedBackprop,
    });
    expect(Array.from(loss)).toEqual(Array.from(expectedLoss));
    expect(Array.from(backprop)).toEqual(Array.from(expectedBackprop));
  });

  test('SharedArrayBuffer arrays in place', async () => {
    const shared = sharedCopy(x);
    const result = await promises.tanh(shared, { out: shared });
    expect(result).toBe(shared);
    expect(Array.from(shared)).toEqual(Array.from(nn.tanh(x)));
  });

  test('shared input with a plain out, and the reverse', async () => {
    const shared = sharedCopy(x);
    const plainOut = new Float32Array(x.length);
    await promises.sigmoid(shared, { out: plainOut });
    expect(Array.from(plainOut)).toEqual(Array.from(nn.sigmoid(x)));

    const sharedOut = sharedCopy(new Float32Array(x.length));
    await promises.sigmoid(x, { out: sharedOut });
    expect(Array.from(sharedOut)).toEqual(Array.from(nn.sigmoid(x)));
  });

  test('in place over a plain array', async () => {
    const copy = x.slice();
    const result = await promises.softmax(copy, { shape: [rows, classes], out: copy });
    expect(result).toBe(copy);
    expect(Array.from(copy)).toEqual(Array.from(nn.softmax(x, { shape: [rows, classes] })));
  });
});

describe('promises and buffer lifetime', () => {
  const length = 4 << 20;
  const big = uniform(createRandom(62), length, -5, 5);

  test('input changed after the call starts is not seen', async () => {
    const input = big.slice();
    const pending = promises.sigmoid(input);
    input.fill(0);
    const result = await pending;
    expect(result[12345]).toBe(nn.sigmoid(big.subarray(12345, 12346))[0]);
  });

  test('input detached while running still computes', async () => {
    const input = big.slice();
    const out = new Float32Array(length);
    const pending = promises.tanh(input, { out });
    detach(input);
    await pending;
    expect(out[777]).toBe(nn.tanh(big.subarray(777, 778))[0]);
  });

  test('out detached while running rejects', async () => {
    const out = new Float32Array(length);
    const pending = promises.tanh(big, { out });
    detach(out);
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toBe(
      'The "out" argument was detached or resized while the computation ran, so its result was discarded. ' +
        'Keep output arrays in place until the promise settles, or back them with a SharedArrayBuffer.',
    );
  });

  test('backprop detached while running leaves loss unwritten', async () => {
    const rows = 1024;
    const classes = 1000;
    const logits = big.subarray(0, rows * classes);
    const labels = oneHot(createRandom(63), rows, classes);
    const loss = new Float32Array(rows).fill(-1);
    const backprop = new Float32Array(rows * classes);
    const pending = promises.softmaxCrossEntropyWithLogits({
      labels,
      logits,
      shape: [rows, classes],
      out: loss,
      backprop,
    });
    detach(backprop);
    const error = await rejection(pending);
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toContain('"backprop"');
    expect(Array.from(loss.subarray(0, 4))).toEqual([-1, -1, -1, -1]);
  });

  test('many calls in flight at once', async () => {
    const inputs = Array.from({ length: 64 }, (_, k) => big.subarray(k * 1000, k * 1000 + 999));
    const results = await Promise.all(inputs.map((input) => promises.sigmoid(input)));
    results.forEach((result, k) => expect(Array.from(result)).toEqual(Array.from(nn.sigmoid(inputs[k]))));
  });
});

describe('promise errors', () => {
  test('bad arguments reject, never throw', async () => {
    const pending = promises.relu('x' as never);
    expect(pending).toBeInstanceOf(Promise);
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  test('out of range axis rejects with RangeError', async () => {
    const error = await rejection(promises.softmax(new Float32Array(6), { shape: [2, 3], axis: 2 }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.code).toBe('ERR_OUT_OF_RANGE');
    expect(error.message).toBe('The "axis" argument must be an integer in [-2, 1]. Received 2');
  });

  test('overlap rejects before any work is queued', async () => {
    const buffer = new Float32Array(10).fill(-1);
    const error = await rejection(promises.relu(buffer.subarray(0, 6), { out: buffer.subarray(2, 8) }));
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(Array.from(buffer)).toEqual(Array(10).fill(-1));
  });
});

test('worker terminated with calls in flight', async () => {
  const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.entry).then((nn) => {
      const x = new Float32Array(new SharedArrayBuffer(4 * (8 << 20))).fill(0.5);
      for (let k = 0; k < 8; k++) nn.promises.tanh(x, { out: x });
      const plain = new Float32Array(8 << 20);
      for (let k = 0; k < 8; k++) nn.promises.sigmoid(plain);
      parentPort.postMessage('queued');
    });
  `;
  const worker = new Worker(source, { eval: true, workerData: { entry } });
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
  expect(Array.from(nn.softmax([0, 0]))).toEqual([0.5, 0.5]);
});
