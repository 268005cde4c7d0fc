import { describe, expect, test } from 'vitest';

import {
  promises,
  softmaxCrossEntropyWithLogits,
  sparseSoftmaxCrossEntropyWithLogits,
  type SimdNnError,
} from '../lib/index';
import { binding } from '../lib/binding';
import { describeEachIsa } from './support/isa';
import { createRandom, crossEntropyRow64, errorInUlpOf, uniform } from './support/reference';

const LOSS_MAX_ULP = 8;
const BACKPROP_MAX_ULP = 4;

// Returns the one-hot rows x classes labels of class ids.
function oneHotOf(ids: Int32Array, classes: number): Float32Array {
  const labels = new Float32Array(ids.length * classes);
  ids.forEach((id, row) => {
    labels[row * classes + id] = 1;
  });
  return labels;
}

function randomIds(random: () => number, rows: number, classes: number): Int32Array {
  return Int32Array.from({ length: rows }, () => Math.floor(random() * classes));
}

// Runs the sparse function and the dense one on one-hot labels, with and without backprop, and returns both.
function runBoth(ids: Int32Array, logits: Float32Array, rows: number, classes: number) {
  const shape = [rows, classes];
  const sparseBackprop = new Float32Array(rows * classes);
  const denseBackprop = new Float32Array(rows * classes);
  return {
    sparse: sparseSoftmaxCrossEntropyWithLogits({ labels: ids, logits, shape, backprop: sparseBackprop }),
    sparseLossOnly: sparseSoftmaxCrossEntropyWithLogits({ labels: ids, logits, shape }),
    dense: softmaxCrossEntropyWithLogits({ labels: oneHotOf(ids, classes), logits, shape, backprop: denseBackprop }),
    // The loss alone may differ in its last bits from the loss with backprop, in both functions.
    denseLossOnly: softmaxCrossEntropyWithLogits({ labels: oneHotOf(ids, classes), logits, shape }),
    sparseBackprop,
    denseBackprop,
  };
}

function expectSameBits(actual: Float32Array, expected: Float32Array, context: string): void {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      expect.fail(`${context}, element ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

describeEachIsa('sparseSoftmaxCrossEntropyWithLogits', () => {
  // Class counts on both sides of each set's switch from rows across lanes to rows within vectors.
  const CLASS_COUNTS = [1, 2, 3, 8, 10, 16, 17, 24, 25, 40, 41, 48, 49, 100, 1000, 9000];

  test('bit for bit the dense function on one-hot labels', () => {
    const random = createRandom(71);
    for (const classes of CLASS_COUNTS) {
      for (const rows of [0, 1, 7, 9, 33]) {
        const ids = randomIds(random, rows, classes);
        const logits = uniform(random, rows * classes, -30, 30);
        const result = runBoth(ids, logits, rows, classes);
        expectSameBits(result.sparse, result.dense, `loss, ${rows} x ${classes}`);
        expectSameBits(result.sparseLossOnly, result.denseLossOnly, `loss only, ${rows} x ${classes}`);
        expectSameBits(result.sparseBackprop, result.denseBackprop, `backprop, ${rows} x ${classes}`);
      }
    }
  });

  test('within bound of float64', () => {
    const random = createRandom(72);
    for (const classes of [3, 10, 40, 1000]) {
      const rows = 20;
      const ids = randomIds(random, rows, classes);
      const logits = uniform(random, rows * classes, -50, 50);
      const backprop = new Float32Array(rows * classes);
      const loss = sparseSoftmaxCrossEntropyWithLogits({ labels: ids, logits, shape: [rows, classes], backprop });
      const labels = oneHotOf(ids, classes);
      for (let r = 0; r < rows; r++) {
        const expected = crossEntropyRow64(
          labels.subarray(r * classes, (r + 1) * classes),
          logits.subarray(r * classes, (r + 1) * classes),
        );
        const scale = Math.max(Math.abs(expected.loss), expected.logSum);
        expect(errorInUlpOf(loss[r], expected.loss, scale), `${classes} classes, row ${r}`).toBeLessThanOrEqual(
          LOSS_MAX_ULP,
        );
        for (let j = 0; j < classes; j++) {
          const gradientScale = Math.max(expected.probabilities[j], labels[r * classes + j]);
          const error = errorInUlpOf(backprop[r * classes + j], expected.backprop[j], gradientScale);
          if (error > BACKPROP_MAX_ULP) {
            expect.fail(`${classes} classes, row ${r}, class ${j}: ${error} ulp`);
          }
        }
      }
    }
  });

  test('the reference row and a dominant class', () => {
    const backprop = new Float32Array(3);
    const loss = sparseSoftmaxCrossEntropyWithLogits({ labels: [0], logits: [[2, 1, 0.1]], backprop });
    const probabilities = [0.65900111, 0.24243297, 0.098565891];
    expect(errorInUlpOf(loss[0], 0.41703001, 0.41703001)).toBeLessThanOrEqual(LOSS_MAX_ULP);
    probabilities.forEach((p, j) => {
      const label = j === 0 ? 1 : 0;
      expect(errorInUlpOf(backprop[j], p - label, Math.max(p, label)), `class ${j}`).toBeLessThanOrEqual(
        BACKPROP_MAX_ULP,
      );
    });

    // The dominant class keeps its tiny loss and gradient: S' = e^-37.43.
    const tiny = new Float32Array(2);
    const dominant = sparseSoftmaxCrossEntropyWithLogits({ labels: [0], logits: [[37.43, 0]], backprop: tiny });
    const rest = Math.exp(-Math.fround(37.43));
    expect(errorInUlpOf(dominant[0], Math.log1p(rest), Math.log1p(rest))).toBeLessThanOrEqual(LOSS_MAX_ULP);
    expect(errorInUlpOf(tiny[0], -rest / (1 + rest), rest)).toBeLessThanOrEqual(BACKPROP_MAX_ULP);
    expect(errorInUlpOf(tiny[1], rest / (1 + rest), rest)).toBeLessThanOrEqual(BACKPROP_MAX_ULP);
  });

  test('NaN rows: NaN, +inf or only -inf logits', () => {
    const logits = new Float32Array([NaN, 1, 2, Infinity, 0, 1, -Infinity, -Infinity, -Infinity, -Infinity, 0, 1]);
    const backprop = new Float32Array(12);
    const loss = sparseSoftmaxCrossEntropyWithLogits({
      labels: new Int32Array([1, 2, 0, 2]),
      logits,
      shape: [4, 3],
      backprop,
    });
    expect(Array.from(loss.subarray(0, 3))).toEqual([NaN, NaN, NaN]);
    expect(Number.isFinite(loss[3])).toBe(true);
    expect(Array.from(backprop.subarray(0, 9)).every(Number.isNaN)).toBe(true);
    expect(Array.from(backprop.subarray(9)).every(Number.isFinite)).toBe(true);
  });

  test('backprop over the logits, in place', () => {
    const random = createRandom(73);
    const rows = 9;
    const classes = 10;
    const ids = randomIds(random, rows, classes);
    const logits = uniform(random, rows * classes, -8, 8);
    const separate = new Float32Array(rows * classes);
    const shape = [rows, classes];
    const loss = sparseSoftmaxCrossEntropyWithLogits({ labels: ids, logits, shape, backprop: separate });
    const inPlaceLoss = sparseSoftmaxCrossEntropyWithLogits({
      labels: ids,
      logits,
      shape: [rows, classes],
      backprop: logits,
    });
    expectSameBits(inPlaceLoss, loss, 'loss');
    expectSameBits(logits, separate, 'backprop');
  });
});

describe('sparseSoftmaxCrossEntropyWithLogits arguments', () => {
  test('nested logits and labels, and higher ranks', () => {
    const logits = [
      [
        [2, 1, 0.1],
        [0, 0, 0],
      ],
      [
        [1, 2, 3],
        [3, 2, 1],
      ],
    ];
    const loss = sparseSoftmaxCrossEntropyWithLogits({
      labels: [
        [0, 1],
        [2, 2],
      ],
      logits,
    });
    const flat = sparseSoftmaxCrossEntropyWithLogits({
      labels: new Int32Array([0, 1, 2, 2]),
      logits: new Float32Array(logits.flat(2)),
      shape: [2, 2, 3],
    });
    expect(loss).toEqual(flat);
    expect(loss[1]).toBe(Math.fround(Math.log(3)));
  });

  test('axis -1 and rank - 1 are the default axis', () => {
    const logits = new Float32Array([2, 1, 0.1, 0, 1, 2]);
    const loss = sparseSoftmaxCrossEntropyWithLogits({ labels: [0, 2], logits, shape: [2, 3] });
    for (const axis of [-1, 1]) {
      expect(sparseSoftmaxCrossEntropyWithLogits({ labels: [0, 2], logits, shape: [2, 3], axis })).toEqual(loss);
    }
  });

  test('zero rows give an empty result', () => {
    const loss = sparseSoftmaxCrossEntropyWithLogits({
      labels: new Int32Array(0),
      logits: new Float32Array(0),
      shape: [0, 5],
    });
    expect(loss).toEqual(new Float32Array(0));
  });

  test('views with a byteOffset, guard elements untouched', () => {
    const random = createRandom(74);
    const rows = 5;
    const classes = 7;
    const idBuffer = new Int32Array(rows + 2).fill(99);
    idBuffer.set(randomIds(random, rows, classes), 1);
    const logitBuffer = new Float32Array(rows * classes + 1);
    logitBuffer.set(uniform(random, rows * classes, -5, 5), 1);
    const lossBuffer = new Float32Array(rows + 4).fill(99);
    const gradBuffer = new Float32Array(rows * classes + 4).fill(99);
    const labels = idBuffer.subarray(1, rows + 1);
    const logits = logitBuffer.subarray(1);
    sparseSoftmaxCrossEntropyWithLogits({
      labels,
      logits,
      shape: [rows, classes],
      out: lossBuffer.subarray(2, rows + 2),
      backprop: gradBuffer.subarray(2, rows * classes + 2),
    });

    const expected = runBoth(labels, logits, rows, classes);
    expectSameBits(lossBuffer.subarray(2, rows + 2), expected.dense, 'loss');
    expectSameBits(gradBuffer.subarray(2, rows * classes + 2), expected.denseBackprop, 'backprop');
    expect(Array.from(lossBuffer.subarray(0, 2))).toEqual([99, 99]);
    expect(Array.from(lossBuffer.subarray(rows + 2))).toEqual([99, 99]);
    expect(Array.from(gradBuffer.subarray(0, 2))).toEqual([99, 99]);
    expect(Array.from(gradBuffer.subarray(rows * classes + 2))).toEqual([99, 99]);
  });

  test('promise version gives the same bits', async () => {
    const random = createRandom(75);
    const rows = 12;
    const classes = 10;
    const ids = randomIds(random, rows, classes);
    const logits = uniform(random, rows * classes, -8, 8);
    const backprop = new Float32Array(rows * classes);
    const loss = await promises.sparseSoftmaxCrossEntropyWithLogits({
      labels: ids,
      logits,
      shape: [rows, classes],
      backprop,
    });
    const expected = runBoth(ids, logits, rows, classes);
    expectSameBits(loss, expected.sparse, 'loss');
    expectSameBits(backprop, expected.sparseBackprop, 'backprop');
  });

  test('shared memory is used in place by the promise version', async () => {
    const rows = 3;
    const classes = 4;
    const ids = new Int32Array(new SharedArrayBuffer(rows * 4));
    ids.set([3, 0, 2]);
    const logits = new Float32Array(new SharedArrayBuffer(rows * classes * 4));
    logits.set(uniform(createRandom(76), rows * classes, -3, 3));
    const loss = await promises.sparseSoftmaxCrossEntropyWithLogits({ labels: ids, logits, shape: [rows, classes] });
    expectSameBits(loss, runBoth(ids, logits, rows, classes).denseLossOnly, 'loss');
  });

  // Each case: the arguments, the error code (which fixes the class) and the whole message. Nothing may be
  // written.
  const cases: { name: string; args: () => Record<string, unknown>; code: string; message: string }[] = [
    {
      name: 'id above the class range',
      args: () => ({ labels: new Int32Array([0, 3]), logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "labels[1]" argument must be a class id in [0, 2]. Received 3',
    },
    {
      name: 'negative id',
      args: () => ({ labels: [-1, 0], logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "labels[0]" argument must be a class id in [0, 2]. Received -1',
    },
    {
      name: 'fractional id',
      args: () => ({ labels: [0, 1.5], logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "labels[1]" argument must be a class id in [0, 2]. Received 1.5',
    },
    {
      name: 'Float32Array labels',
      args: () => ({ labels: new Float32Array(2), logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_INVALID_ARG_TYPE',
      message:
        'The "labels" argument must be an instance of Int32Array or an array of integers. ' +
        'Received an instance of Float32Array',
    },
    {
      name: 'one id too many',
      args: () => ({ labels: new Int32Array(3), logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_INVALID_ARG_VALUE',
      message:
        'The "labels" argument must be a list of one class id per row of "logits" [2,3], 2 in all. Received 3 ids',
    },
    {
      name: 'one id too few',
      args: () => ({ labels: new Int32Array(1), logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_INVALID_ARG_VALUE',
      message:
        'The "labels" argument must be a list of one class id per row of "logits" [2,3], 2 in all. Received 1 id',
    },
    {
      name: 'nested labels of another shape',
      args: () => ({ labels: [[0, 1]], logits: new Float32Array(6), shape: [2, 3] }),
      code: 'ERR_INVALID_ARG_VALUE',
      message:
        'The "labels" argument must be a tensor of shape [2], the shape of "logits" without its class axis. ' +
        'Received shape [1,2]',
    },
    {
      name: 'backprop over the class ids',
      args: () => {
        const buffer = new ArrayBuffer(24);
        return {
          labels: new Int32Array(buffer, 0, 2),
          logits: new Float32Array(6),
          shape: [2, 3],
          backprop: new Float32Array(buffer),
        };
      },
      code: 'ERR_INVALID_ARG_VALUE',
      message:
        'The "backprop" argument overlaps the "labels" argument in memory. Pass arrays that do not overlap.',
    },
    {
      name: 'a class axis other than the last',
      args: () => ({ labels: [0, 0, 0], logits: new Float32Array(6), shape: [3, 2], axis: 0 }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "axis" argument must be the last axis, -1 or 1, where the classes are. Received 0',
    },
    {
      name: 'zero classes',
      args: () => ({ labels: new Int32Array(2), logits: new Float32Array(0), shape: [2, 0] }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "logits" argument must be a tensor with at least 1 class along its last axis. Received shape [2,0]',
    },
  ];

  test.each(cases)('$name', ({ args, code, message }) => {
    const out = new Float32Array(2).fill(7);
    const backprop = new Float32Array(6).fill(7);
    let thrown: unknown;
    try {
      sparseSoftmaxCrossEntropyWithLogits({ out, backprop, ...args() } as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError);
    expect((thrown as SimdNnError).code).toBe(code);
    expect((thrown as Error).message).toBe(message);
    expect(Array.from(out)).toEqual([7, 7]);
    expect(Array.from(backprop)).toEqual([7, 7, 7, 7, 7, 7]);
  });

  test('the binding checks every id before it writes', () => {
    const loss = new Float32Array(2).fill(7);
    const backprop = new Float32Array(6).fill(7);
    const ids = new Int32Array([1, 3]);
    const call = () => binding.sparseSoftmaxCrossEntropy(ids, new Float32Array(6), loss, backprop, 2, 3);
    expect(call).toThrow(RangeError);
    expect(call).toThrow('The "labels[1]" argument must be a class id in [0, 2]. Received 3');
    expect(Array.from(loss)).toEqual([7, 7]);
    expect(Array.from(backprop)).toEqual([7, 7, 7, 7, 7, 7]);
  });

  test('the binding rejects Float32Array labels and a mismatched layout', () => {
    const loss = new Float32Array(2);
    expect(() =>
      binding.sparseSoftmaxCrossEntropy(new Float32Array(2) as never, new Float32Array(6), loss, null, 2, 3),
    ).toThrow('The "labels" argument must be an instance of Int32Array.');
    expect(() => binding.sparseSoftmaxCrossEntropy(new Int32Array(2), new Float32Array(6), loss, null, 2, 4)).toThrow(
      TypeError,
    );
    expect(() => binding.sparseSoftmaxCrossEntropy(new Int32Array(2), new Float32Array(0), loss, null, 2, 0)).toThrow(
      RangeError,
    );
  });
});
