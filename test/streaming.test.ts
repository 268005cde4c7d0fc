// Outputs of 32 MiB and more are written with non-temporal stores (see StreamingThresholdBytes in the kernel
// sets), a path that the smaller arrays of the other test files never reach. Rows and elements are computed
// independently, so one large call must give, bit for bit, what the same work gives in pieces small enough
// for ordinary stores.
import { describe, expect, test } from 'vitest';

import {
  leakyRelu,
  logSigmoid,
  relu,
  relu6,
  sigmoid,
  silu,
  softmax,
  softmaxCrossEntropyWithLogits,
  softplus,
  softsign,
  tanh,
} from '../lib/index';
import { describeEachIsa } from './support/isa';
import { SPECIAL_VALUES, createRandom, uniform } from './support/reference';

const CLASSES = 1000;
// 34 MB per array: past the 32 MiB cap of the threshold on any machine.
const ROWS = 8500;
const ELEMENTS = ROWS * CLASSES;
// 4 MB per piece: below the threshold on any machine with a last-level cache of 4 MB or more.
const PIECE_ROWS = 1000;

/** Fails with the first element where `actual` and `expected` differ in any bit. */
function expectSameBits(actual: Float32Array, expected: Float32Array, description: string): void {
  expect(actual.length).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      expect.fail(`${description}: element ${i} is ${actual[i]} in one call and ${expected[i]} in pieces`);
    }
  }
}

// Logits with special values and ties at the maximum spread through them.
function makeLogits(seed: number): Float32Array {
  const random = createRandom(seed);
  const x = uniform(random, ELEMENTS, -12, 12);
  for (let i = 0; i < ELEMENTS; i += 997) {
    x[i] = SPECIAL_VALUES[(i / 997) % SPECIAL_VALUES.length];
  }
  for (let r = 0; r < ROWS; r += 7) {
    x[r * CLASSES + 3] = 30;
    x[r * CLASSES + 700] = 30;
  }
  return x;
}

/** Softmax of the rows of `logits`, PIECE_ROWS rows per call. */
function softmaxInPieces(logits: Float32Array): Float32Array {
  const pieces = new Float32Array(ELEMENTS);
  for (let row = 0; row < ROWS; row += PIECE_ROWS) {
    const rows = Math.min(PIECE_ROWS, ROWS - row);
    const span = [row * CLASSES, (row + rows) * CLASSES] as const;
    softmax(logits.subarray(...span), { shape: [rows, CLASSES], out: pieces.subarray(...span) });
  }
  return pieces;
}

/** Softmax cross-entropy with backprop of rows of `classes`, calls of 4 MB per array at most. */
function crossEntropyInPieces(
  labels: Float32Array,
  logits: Float32Array,
  classes = CLASSES,
): { loss: Float32Array; backprop: Float32Array } {
  const allRows = logits.length / classes;
  const pieceRows = (PIECE_ROWS * CLASSES) / classes;
  const loss = new Float32Array(allRows);
  const backprop = new Float32Array(logits.length);
  for (let row = 0; row < allRows; row += pieceRows) {
    const rows = Math.min(pieceRows, allRows - row);
    const span = [row * classes, (row + rows) * classes] as const;
    softmaxCrossEntropyWithLogits({
      labels: labels.subarray(...span),
      logits: logits.subarray(...span),
      shape: [rows, classes],
      backprop: backprop.subarray(...span),
      out: loss.subarray(row, row + rows),
    });
  }
  return { loss, backprop };
}

describeEachIsa('outputs large enough for non-temporal stores', () => {
  // The view starts 4 bytes into its buffer, so that its loads are not aligned to 64 bytes.
  const logits = new Float32Array(ELEMENTS + 1).subarray(1);
  logits.set(makeLogits(41));

  for (const [name, fn] of [
    ['relu', relu],
    ['sigmoid', sigmoid],
    ['tanh', tanh],
    ['relu6', relu6],
    ['leakyRelu', leakyRelu],
    ['softplus', softplus],
    ['logSigmoid', logSigmoid],
    ['softsign', softsign],
    ['silu', silu],
  ] as const) {
    test(`${name} matches pieces`, () => {
      const whole = fn(logits);
      const pieces = new Float32Array(ELEMENTS);
      for (let start = 0; start < ELEMENTS; start += PIECE_ROWS * CLASSES) {
        const end = Math.min(start + PIECE_ROWS * CLASSES, ELEMENTS);
        fn(logits.subarray(start, end), { out: pieces.subarray(start, end) });
      }
      expectSameBits(whole, pieces, name);
    });
  }

  test('softmax matches pieces', () => {
    const whole = softmax(logits, { shape: [ROWS, CLASSES] });
    expectSameBits(whole, softmaxInPieces(logits), 'softmax');
  });

  test('cross-entropy matches pieces', () => {
    const random = createRandom(43);
    const labels = uniform(random, ELEMENTS, 0, 0.002);
    // A row whose labels send it to the exact path, and a dominant class.
    labels[5 * CLASSES + 10] = -0.5;
    logits[9 * CLASSES + 20] = 60;
    // Rows with a maximum beyond 65536, which take the exact path between streamed rows. Each has a single
    // maximum at the start, inside or at the end of the row, whose gradient has its own formula, and every
    // other row is labelled there (one-hot).
    [0, 1, 500, 998, 999].forEach((position, k) => {
      const start = (11 + k) * CLASSES;
      for (let j = 0; j < CLASSES; j++) {
        logits[start + j] = 70_000 + (j % 13) / 4;
      }
      logits[start + position] = 70_010;
      if (k % 2 === 0) {
        labels.fill(0, start, start + CLASSES);
        labels[start + position] = 1;
      }
    });

    const backprop = new Float32Array(ELEMENTS);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [ROWS, CLASSES], backprop });
    const lossOnly = softmaxCrossEntropyWithLogits({ labels, logits, shape: [ROWS, CLASSES] });

    const pieces = crossEntropyInPieces(labels, logits);
    expectSameBits(loss, pieces.loss, 'loss with backprop');
    expectSameBits(lossOnly, pieces.loss, 'loss alone');
    expectSameBits(backprop, pieces.backprop, 'backprop');
  });
});

// Short rows in an output past the threshold, which are written with ordinary stores. Earlier builds streamed
// rows of 100 classes: they start 400 bytes apart, so that a row's first and last entries share cache lines
// with its neighbours. A single maximum gets its gradient from its own formula. It is placed at the first
// entry, inside the row and at the last.
describeEachIsa('large outputs of short rows', () => {
  const classes = 100;
  const elements = ELEMENTS;
  const rows = elements / classes;

  test('cross-entropy matches pieces', () => {
    const random = createRandom(51);
    const logits = uniform(random, elements, -12, 12);
    const labels = new Float32Array(elements);
    for (let r = 0; r < rows; r++) {
      let label = (r * 37) % classes;
      if (r % 3 === 0) {
        // A dominant class, labelled in every other such row: its gradient is about -1e-13 or about 1.
        const k = r / 3;
        const dominant = [0, 1, 7, 50, 98, 99][k % 6];
        logits[r * classes + dominant] = 40;
        if (k % 2 === 0) {
          label = dominant;
        }
      }
      labels[r * classes + label] = 1;
    }
    labels[5 * classes + 10] = -0.5;

    const backprop = new Float32Array(elements);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
    const pieces = crossEntropyInPieces(labels, logits, classes);
    expectSameBits(loss, pieces.loss, 'loss');
    expectSameBits(backprop, pieces.backprop, 'backprop');
  });

  test('softmax over 40 classes matches pieces', () => {
    // On AVX-512, rows of 17 to 48 classes go through transposed groups of 16 rows, which prefetch ahead on
    // inputs this large. 40 classes leave a partial chunk of columns, and 212,500 rows a last group of 4.
    const shortRows = ELEMENTS / 40;
    const logits = uniform(createRandom(53), ELEMENTS, -20, 20);
    for (let i = 0; i < ELEMENTS; i += 991) {
      logits[i] = SPECIAL_VALUES[(i / 991) % SPECIAL_VALUES.length];
    }
    const whole = softmax(logits, { shape: [shortRows, 40] });
    const pieces = new Float32Array(ELEMENTS);
    const pieceRows = (PIECE_ROWS * CLASSES) / 40;
    for (let row = 0; row < shortRows; row += pieceRows) {
      const span = [row * 40, Math.min(row + pieceRows, shortRows) * 40] as const;
      softmax(logits.subarray(...span), { shape: [(span[1] - span[0]) / 40, 40], out: pieces.subarray(...span) });
    }
    expectSameBits(whole, pieces, 'softmax');
  });
});

describeEachIsa('non-temporal outputs in place', () => {
  test('softmax in place matches pieces', () => {
    const logits = makeLogits(45);
    const pieces = softmaxInPieces(logits);
    softmax(logits, { shape: [ROWS, CLASSES], out: logits });
    expectSameBits(logits, pieces, 'softmax in place');
  });

  test('backprop in place matches pieces', () => {
    const logits = makeLogits(47);
    const labels = uniform(createRandom(49), ELEMENTS, 0, 0.002);
    labels[5 * CLASSES + 10] = -0.5;
    const pieces = crossEntropyInPieces(labels, logits);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [ROWS, CLASSES], backprop: logits });
    expectSameBits(loss, pieces.loss, 'loss');
    expectSameBits(logits, pieces.backprop, 'backprop in place');
  });
});

describe('piece size', () => {
  test('sizes straddle the threshold', () => {
    expect(PIECE_ROWS * CLASSES * 4).toBeLessThanOrEqual(4_000_000);
    expect(ELEMENTS * 4).toBeGreaterThan(32 * 2 ** 20);
  });
});
