import { describe, expect, test } from 'vitest';

import { sigmoidCrossEntropyWithLogits, softmaxCrossEntropyWithLogits } from '../lib/index';
import { describeEachIsa } from './support/isa';
import {
  createRandom,
  crossEntropyRow64,
  errorInUlpOf,
  expectNearReference,
  NAN_BITS,
  oneHot,
  setNaNBits,
  SPECIAL_VALUES,
  sigmoidCrossEntropy64,
  ulpError,
  uniform,
} from './support/reference';

const LOSS_MAX_ULP = 8;
const SIGMOID_XENT_MAX_ULP = 2;

// Softmax cross-entropy must be within 8 ulp of max(|loss|, log S). Each gradient element e^s_j / S - z_j must be
// within 4 ulp of max(e^s_j / S, |z_j|), the larger of the two terms it subtracts.
const BACKPROP_MAX_ULP = 4;
function expectRowsWithinBound(
  labels: Float32Array,
  logits: Float32Array,
  rows: number,
  classes: number,
  loss: Float32Array,
  backprop?: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const z = labels.subarray(r * classes, (r + 1) * classes);
    const x = logits.subarray(r * classes, (r + 1) * classes);
    const expected = crossEntropyRow64(z, x);
    const scale = Math.max(Math.abs(expected.loss), expected.logSum);
    const error = errorInUlpOf(loss[r], expected.loss, scale);
    expect(error, `row ${r}: loss ${loss[r]} vs ${expected.loss}`).toBeLessThanOrEqual(LOSS_MAX_ULP);

    if (backprop) {
      for (let j = 0; j < classes; j++) {
        const actual: number = backprop[r * classes + j];
        const gradientScale = Math.max(expected.probabilities[j], Math.abs(z[j]));
        const gradientError = errorInUlpOf(actual, expected.backprop[j], gradientScale);
        if (gradientError > BACKPROP_MAX_ULP) {
          expect.fail(`row ${r}, class ${j}: ${actual} vs ${expected.backprop[j]} (${gradientError} ulp)`);
        }
      }
    }
  }
}

/**
 * Computes the rows with the gradient into a separate array and checks them against float64, then again with
 * the gradient written over the logits, which must give the same bits (and leaves the logits overwritten).
 */
function expectInPlaceBackpropMatches(
  labels: Float32Array,
  logits: Float32Array,
  rows: number,
  classes: number,
  where: string,
): void {
  const backprop = new Float32Array(rows * classes);
  const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
  expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);

  const inPlaceLoss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop: logits });
  expect(Array.from(inPlaceLoss), `${where}: loss`).toEqual(Array.from(loss));
  expect(Array.from(logits), `${where}: backprop`).toEqual(Array.from(backprop));
}

describe('reference values', () => {
  test('labels [[1,0,0]], logits [[2,1,0.1]]', () => {
    const backprop = new Float32Array(3);
    const loss = softmaxCrossEntropyWithLogits({ labels: [[1, 0, 0]], logits: [[2, 1, 0.1]], backprop });
    expectNearReference(loss, [0.41703001], LOSS_MAX_ULP);
    expectNearReference(backprop, [-0.34099886, 0.24243297, 0.098565891], BACKPROP_MAX_ULP);
  });

  test('labels [[1,0,0]], logits [[2.5,0.3,-1.2]]', () => {
    const loss = softmaxCrossEntropyWithLogits({ labels: [[1, 0, 0]], logits: [[2.5, 0.3, -1.2]] });
    expectNearReference(loss, [0.12709658], LOSS_MAX_ULP);
  });

  test('sigmoid cross-entropy of labels [[1,0]], logits [[0.8,-1.2]]', () => {
    const y = sigmoidCrossEntropyWithLogits({ labels: [[1, 0]], logits: [[0.8, -1.2]] });
    expectNearReference(y, [0.37110066, 0.26328245], SIGMOID_XENT_MAX_ULP);
  });
});

describeEachIsa('softmax cross-entropy', () => {
  test('one-hot labels, every class count, within bound', () => {
    const random = createRandom(31);
    for (const classes of [...Array.from({ length: 40 }, (_, i) => i + 1), 64, 65, 1000]) {
      for (const rows of [1, 5, 17, 35]) {
        // Views at byteOffset 4 and 8, so rows start at addresses that are only 4-byte aligned.
        const logits = uniform(random, rows * classes + 1, -15, 15).subarray(1);
        const labels = new Float32Array(rows * classes + 2).subarray(2);
        labels.set(oneHot(random, rows, classes));
        const backprop = new Float32Array(rows * classes);
        const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
        expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);

        const lossOnly = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes] });
        expect(Array.from(lossOnly), `${rows} x ${classes}: loss with and without backprop`).toEqual(
          Array.from(loss),
        );
      }
    }
  });

  test('soft labels that need not sum to 1', () => {
    const random = createRandom(32);
    for (const classes of [3, 10, 16, 17, 100, 1000]) {
      const rows = 20;
      const logits = uniform(random, rows * classes, -30, 30);
      const labels = uniform(random, rows * classes, 0, 1);
      const backprop = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
      expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);
    }
  });

  test('maximum repeated across groups', () => {
    // The AVX-512 path for long rows counts the entries equal to the maximum group by group (8 vectors of 16)
    // and leaves them out of the sum below it. Each row puts the maximum in other groups, the partial last
    // group included, over logits far below it, so that the loss depends on that sum alone.
    const classes = 1000;
    const maxPositions = [[999], [0], [0, 500], [5, 130, 999], [127, 128], Array.from({ length: 8 }, (_, k) => k * 128)];
    const rows = maxPositions.length;
    const random = createRandom(36);
    const logits = uniform(random, rows * classes, -45, -25);
    const labels = new Float32Array(rows * classes);
    maxPositions.forEach((positions, r) => {
      for (const position of positions) {
        logits[r * classes + position] = 3;
      }
      labels[r * classes + positions[0]] = 0.75;
      labels[r * classes + 400] = 0.25;
    });

    const backprop = new Float32Array(rows * classes);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
    expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);

    // Without backprop, the AVX-512 path looks for the maximum only in the groups where the pass over an
    // earlier row saw it (from the third row on). The loss must not change.
    const lossOnly = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes] });
    expect(Array.from(lossOnly)).toEqual(Array.from(loss));

    const oneHotLabels = new Float32Array(rows * classes);
    maxPositions.forEach((positions, r) => {
      oneHotLabels[r * classes + positions[positions.length - 1]] = 1;
    });
    const oneHotLoss = softmaxCrossEntropyWithLogits({ labels: oneHotLabels, logits, shape: [rows, classes], backprop });
    expectRowsWithinBound(oneHotLabels, logits, rows, classes, oneHotLoss, backprop);
  });

  test('65,536 classes within bound', () => {
    const random = createRandom(33);
    const logits = uniform(random, 65_536, -10, 10);
    const labels = uniform(random, 65_536, 0, 1 / 32_768);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits });
    expectRowsWithinBound(labels, logits, 1, 65_536, loss);
  });

  test('label 0 with a -inf logit contributes nothing', () => {
    const backprop = new Float32Array(3);
    const loss = softmaxCrossEntropyWithLogits({ labels: [[0, 1, 0]], logits: [[-Infinity, 1, 2]], backprop });
    expect(loss[0]).toBeCloseTo(1.3132616, 6);
    expect(backprop[0]).toBe(0);
  });

  test('-inf logits give zero gradient', () => {
    const random = createRandom(31);
    for (const classes of [5, 17, 120, 1000]) {
      const logits = uniform(random, 2 * classes, -5, 5);
      const labels = new Float32Array(2 * classes);
      for (let r = 0; r < 2; r++) {
        labels[r * classes + ((3 + r) % classes)] = 1;
        for (const position of [0, 1, classes - 1, Math.floor(classes / 2)]) {
          if (position !== (3 + r) % classes) {
            logits[r * classes + position] = -Infinity;
          }
        }
      }
      const backprop = new Float32Array(2 * classes);
      const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [2, classes], backprop });
      for (let i = 0; i < logits.length; i++) {
        if (logits[i] === -Infinity) {
          expect(Object.is(backprop[i], 0), `classes ${classes}, element ${i}: ${backprop[i]}`).toBe(true);
        }
      }
      expectRowsWithinBound(labels, logits, 2, classes, loss, backprop);
    }
  });

  test('single maximum at any position', () => {
    // GCC 12.2 builds at -O1 or with -mtune=znver3 once counted extra entries at the maximum when it lay in
    // the row's last group of vectors (test/builds/run.sh runs this suite on such builds).
    const random = createRandom(37);
    // 175 classes is the last with the gradient on the AVX-512 exact path, and 176 the first on its fast path.
    for (const classes of [175, 176, 200, 320, 400, 1000]) {
      const positions = Array.from({ length: Math.ceil(classes / 7) }, (_, k) => k * 7);
      const rows = positions.length;
      const logits = uniform(random, rows * classes + 1, -5, 5).subarray(1);
      const labels = new Float32Array(rows * classes);
      positions.forEach((position, r) => {
        logits[r * classes + position] = 10;
        labels[r * classes + ((position + 3) % classes)] = 1;
      });
      const backprop = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
      expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);
    }
  });

  test('equal huge logits give ln 2', () => {
    const loss = softmaxCrossEntropyWithLogits({ labels: [[0, 1]], logits: [[1e8, 1e8]] });
    expect(loss[0]).toBe(Math.fround(Math.LN2));
  });

  test('dominant class keeps its tiny loss and gradient', () => {
    const backprop = new Float32Array(2);
    const loss = softmaxCrossEntropyWithLogits({ labels: [[1, 0]], logits: [[37.43, 0]], backprop });
    const expected = Math.exp(-Math.fround(37.43));
    expect(ulpError(loss[0], expected)).toBeLessThanOrEqual(LOSS_MAX_ULP);
    expect(ulpError(backprop[0], -expected)).toBeLessThanOrEqual(BACKPROP_MAX_ULP);
    expect(ulpError(backprop[1], expected)).toBeLessThanOrEqual(BACKPROP_MAX_ULP);
  });

  test('dominant class over subnormal terms', () => {
    // Each e^(x - max) below about e^-87.3 is a subnormal float32, which a kernel may round or flush to 0.
    // Thousands of them, or a few just below 2^-126, add up to a normal loss, which must keep its 8 ulp bound.
    // 16 classes take the path across rows, 17 and more the path along a row.
    for (const classes of [2, 16, 17, 4096, 65536]) {
      for (const gap of [87.5, 88.3, 90.4, 93, 96.2, 98.1]) {
        const logits = new Float32Array(classes).fill(-gap);
        logits[0] = 0;
        const labels = new Float32Array(classes);
        labels[0] = 1;
        const expected = (classes - 1) * Math.exp(Math.fround(-gap));
        if (expected < 2 ** -126) {
          continue;
        }
        for (const backprop of [undefined, new Float32Array(classes)]) {
          const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes], backprop });
          expect(ulpError(loss[0], expected), `${classes} classes, gap ${gap}`).toBeLessThanOrEqual(LOSS_MAX_ULP);
        }
      }
    }
  });

  test('huge label on far-dominant maximum', () => {
    // Each e^(x - max) is below 2^-150, which rounds to 0 in float32, yet 1e30 times their sum is a normal loss.
    for (const classes of [2, 16, 17, 40, 1000]) {
      for (const gap of [104.5, 200, 700]) {
        const logits = new Float32Array(classes).fill(-gap);
        logits[0] = 0;
        const labels = new Float32Array(classes);
        labels[0] = 1e30;
        const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes] });
        expectRowsWithinBound(labels, logits, 1, classes, loss);
      }
    }
  });

  test('tiny labels on a dominated row', () => {
    // Each product z (x - max) is below 2^-126 and rounds on its own in float32. The loss they add up to is
    // normal and log S is about 0, so the bound is 8 ulp of the loss itself.
    for (const [classes, gap, label] of [
      [1000, 10000.49, 2 ** -149],
      [5000, 2000.49, 2 ** -149],
      [4096, 256.03, 2 ** -145],
    ]) {
      const logits = new Float32Array(classes).fill(-gap);
      logits[0] = 0;
      const labels = new Float32Array(classes).fill(label);
      labels[0] = 0;
      for (const backprop of [undefined, new Float32Array(classes)]) {
        const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes], backprop });
        expectRowsWithinBound(labels, logits, 1, classes, loss, backprop);
      }
    }
  });

  test('tiny labels where softmax underflows', () => {
    // The gradient e^s / S - z is about -z there, a normal float, so e^s / S must be right to a few ulp of z
    // even though it lies below 2^-126 itself. Every fifth logit lies near the maximum, so that no class
    // dominates and the rows take the fast paths, or with a maximum beyond 65536 the exact ones.
    for (const classes of [6, 16, 17, 40, 175, 176, 200, 320, 400, 1000]) {
      for (const [gap, label, top] of [
        [88, 1e-35, 0],
        [95, 2 ** -120, 0],
        [100, 2 ** -126, 0],
        [103.5, 2 ** -110, 0],
        [150, 2 ** -126, 0],
        [90, 1e-35, 70_000],
      ]) {
        const logits = new Float32Array(classes).fill(top);
        const labels = new Float32Array(classes);
        for (let j = 1; j < classes; j++) {
          logits[j] = top + (j % 5 === 0 ? -(j % 4) * 0.5 : -gap - (j % 7) * 0.37);
          labels[j] = j % 3 === 0 ? 0 : label;
        }
        labels[0] = 1;
        const backprop = new Float32Array(classes);
        const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes], backprop });
        expectRowsWithinBound(labels, logits, 1, classes, loss, backprop);
      }
    }
  });

  test('rows with NaN, +inf or only -inf are NaN', () => {
    const logits = [
      [1, NaN, 2],
      [1, Infinity, 2],
      [-Infinity, -Infinity, -Infinity],
      [1, 2, 3],
    ];
    const labels = [
      [0, 1, 0],
      [0, 1, 0],
      [0, 1, 0],
      [0, 1, 0],
    ];
    const backprop = new Float32Array(12);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, backprop });
    for (let r = 0; r < 3; r++) {
      expect(loss[r], `row ${r}`).toBeNaN();
      for (let j = 0; j < 3; j++) {
        expect(backprop[r * 3 + j], `row ${r}, class ${j}`).toBeNaN();
      }
    }
    expect(loss[3]).toBeCloseTo(1.4076059, 6);
  });

  test('labels of mixed sign within the label-scaled bound', () => {
    // With labels of both signs the terms of the loss cancel, so the bound scales with sum |z| * log S.
    const cases = [
      { labels: [1000, -237.7756805419922], logits: [0, -1] },
      { labels: [65536, -15632.0088], logits: [0, -1] },
      { labels: [3, -1, -1, 0.5], logits: [2, -3, 0.25, 1] },
    ];
    const random = createRandom(40);
    for (let k = 0; k < 50; k++) {
      const classes = 2 + Math.floor(random() * 40);
      cases.push({
        labels: Array.from(uniform(random, classes, -50, 50)),
        logits: Array.from(uniform(random, classes, -10, 10)),
      });
    }
    for (const { labels, logits } of cases) {
      const loss = softmaxCrossEntropyWithLogits({ labels: [labels], logits: [logits] });
      const expected = crossEntropyRow64(new Float32Array(labels), new Float32Array(logits));
      const labelMass = labels.reduce((sum, z) => sum + Math.abs(Math.fround(z)), 0);
      const scale = Math.max(Math.abs(expected.loss), labelMass * expected.logSum);
      expect(errorInUlpOf(loss[0], expected.loss, scale), `labels ${labels}, logits ${logits}`).toBeLessThanOrEqual(
        LOSS_MAX_ULP,
      );
    }
  });

  test('labels of both signs beside a huge logit', () => {
    // x - max rounds in float64 once the maximum is about 2^30 times the other logits, and terms of both signs
    // can cancel below that rounding. Labels [1e30, -1e30] on [-1, -2] beside 3e38 give a loss of -1e30, which
    // summing z (x - max) in float64 turned into 0. The reference sums them exactly.
    const exact = softmaxCrossEntropyWithLogits({ labels: [[1e30, -1e30, 0]], logits: [[-1, -2, 3e38]] });
    expect(exact[0]).toBe(Math.fround(-1e30));

    const random = createRandom(41);
    for (const classes of [2, 5, 16, 17, 40, 100, 176, 320, 1000]) {
      // Labels up to 1 and a maximum up to 1e30 keep every loss finite in float32.
      for (const top of [1e7, 65_536.5, 1e20, 1e30]) {
        const rows = 6;
        const logits = uniform(random, rows * classes, -3, 3);
        const labels = new Float32Array(rows * classes);
        for (let r = 0; r < rows; r++) {
          const topPosition = (r * 3) % classes;
          logits[r * classes + topPosition] = top;
          // Labels a and -a in pairs, so that their terms a (x - max) cancel down to a (x_1 - x_2).
          for (let j = 0; j + 1 < classes; j += 2) {
            if (j !== topPosition && j + 1 !== topPosition && random() < 0.5) {
              const a = 10 ** (random() * 30 - 30);
              labels[r * classes + j] = a;
              labels[r * classes + j + 1] = -a;
            }
          }
        }
        for (const backprop of [undefined, new Float32Array(rows * classes)]) {
          const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
          for (let r = 0; r < rows; r++) {
            const z = labels.subarray(r * classes, (r + 1) * classes);
            const expected = crossEntropyRow64(z, logits.subarray(r * classes, (r + 1) * classes));
            const labelMass = z.reduce((sum, label) => sum + Math.abs(label), 0);
            const scale = Math.max(Math.abs(expected.loss), labelMass * expected.logSum);
            const where = `${classes} classes, maximum ${top}, row ${r}: ${loss[r]} vs ${expected.loss}`;
            expect(errorInUlpOf(loss[r], expected.loss, scale), where).toBeLessThanOrEqual(LOSS_MAX_ULP);
          }
        }
      }
    }
  });

  test('labels whose sum cancels in float64', () => {
    // 2^100 + 1 - 2^100 is 0 in float64, but the labels sum to 1, and the loss is 1 * log S = ln C.
    for (const classes of [3, 16, 17, 100, 400]) {
      const labels = new Float32Array(classes);
      labels.set([2 ** 100, 1, -(2 ** 100)]);
      for (const backprop of [undefined, new Float32Array(classes)]) {
        const loss = softmaxCrossEntropyWithLogits({ labels, logits: new Float32Array(classes), backprop });
        expect(ulpError(loss[0], Math.log(classes)), `${classes} classes: ${loss[0]}`).toBeLessThanOrEqual(LOSS_MAX_ULP);
      }
    }
  });

  test('infinite label on the largest logit gives its limit', () => {
    for (const classes of [2, 20]) {
      const logits = new Float32Array(classes);
      logits[0] = 1;
      const labels = new Float32Array(classes);
      labels[0] = Infinity;
      expect(softmaxCrossEntropyWithLogits({ labels, logits })[0], `classes ${classes}`).toBe(Infinity);
      labels[0] = -Infinity;
      expect(softmaxCrossEntropyWithLogits({ labels, logits })[0], `classes ${classes}`).toBe(-Infinity);
    }
  });

  test('infinite label on far-dominant maximum', () => {
    // Every e^(x - max) underflows, but S' is still positive, and so is log S: the limits are +-inf for the
    // loss and -+inf for the gradient at the maximum. With the rest -inf, S' is 0: the loss, inf * (log S - s)
    // = inf * 0, has no value, while the gradient is e^s / S - z = 1 - z.
    for (const classes of [5, 16, 17, 40, 400]) {
      for (const gap of [200, 800]) {
        for (const label of [Infinity, -Infinity]) {
          const logits = new Float32Array(classes).fill(-gap);
          logits[1] = 0;
          const labels = new Float32Array(classes);
          labels[1] = label;
          const backprop = new Float32Array(classes);
          const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes], backprop });
          const where = `${classes} classes, gap ${gap}, label ${label}`;
          expect(loss[0], where).toBe(label);
          expect(backprop[1], where).toBe(-label);
          expect(backprop[0], where).toBe(0);
        }
      }
      const logits = new Float32Array(classes).fill(-Infinity);
      logits[1] = 0;
      for (const label of [Infinity, -Infinity]) {
        const labels = new Float32Array(classes);
        labels[1] = label;
        const backprop = new Float32Array(classes);
        const where = `${classes} classes, the rest -inf, label ${label}`;
        expect(softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes], backprop })[0], where).toBeNaN();
        expect(backprop[1], where).toBe(-label);
        expect(Object.is(backprop[0], 0), `${where}: ${backprop[0]}`).toBe(true);
      }
    }
    // A single class: S = 1 exactly.
    for (const label of [Infinity, -Infinity]) {
      const backprop = new Float32Array(1);
      softmaxCrossEntropyWithLogits({ labels: [[label]], logits: [[5]], backprop });
      expect(backprop[0], `one class, label ${label}`).toBe(-label);
    }
  });

  test('infinite label below a maximum whose log S rounds to 0', () => {
    // log S = log1p(e^-65540) is 0 in float64, so label_sum * log S would be inf * 0. The term of the infinite
    // label, inf * (log S - s), is +inf, and so is the loss.
    for (const classes of [3, 20, 100, 1000]) {
      const logits = new Float32Array(classes).fill(-4);
      logits[classes - 1] = 65536;
      const labels = new Float32Array(classes);
      labels[0] = -88;
      labels[1] = Infinity;
      expect(softmaxCrossEntropyWithLogits({ labels, logits, shape: [1, classes] })[0], `${classes} classes`).toBe(
        Infinity,
      );
    }
  });

  test('huge labels keep finite results', () => {
    for (const classes of [8, 40]) {
      // Labels of both signs whose float32 sum would cancel (2^24 + 1) or overflow (3e38 + 3e38).
      const logits = new Float32Array(classes);
      const cancelling = new Float32Array(classes);
      cancelling[0] = 2 ** 24;
      cancelling[1] = 1;
      cancelling[2] = -(2 ** 24);
      const loss = softmaxCrossEntropyWithLogits({ labels: cancelling, logits, shape: [1, classes] });
      expect(loss[0], `${classes} classes, 2^24 + 1 - 2^24`).toBeCloseTo(Math.log(classes), 5);
      const opposite = new Float32Array(classes);
      opposite.set([3e38, 3e38, -3e38, -3e38]);
      expect(softmaxCrossEntropyWithLogits({ labels: opposite, logits, shape: [1, classes] })[0]).toBe(0);

      // A single maximum with S' = 0.5: ((1 - z) - z S') / S = -3e38 for z = 3e38, finite.
      const dominant = new Float32Array(classes).fill(-Math.log(2 * (classes - 1)));
      dominant[0] = 0;
      const labels = new Float32Array(classes);
      labels[0] = 3e38;
      const backprop = new Float32Array(classes);
      softmaxCrossEntropyWithLogits({ labels, logits: dominant, shape: [1, classes], backprop });
      expect(ulpError(backprop[0], -3e38), `${classes} classes: ${backprop[0]}`).toBeLessThanOrEqual(BACKPROP_MAX_ULP);
    }
  });

  test('exact-path labels in any row', () => {
    // Rows long enough for the fast path with a gradient. On AVX-512 such a row's labels are added up while
    // its gradient is written, after the next row's exponentials. A row whose labels turn out to need the
    // exact path is computed again. Every row must still equal the same row computed alone.
    const rows = 10;
    const classes = 1000;
    const random = createRandom(77);
    const logits = uniform(random, rows * classes, -6, 6);
    for (const [position, label] of [
      [0, Infinity],
      [3, -0.25],
      [7, Infinity],
      [8, -Infinity],
      [9, Infinity],
    ]) {
      const labels = uniform(random, rows * classes, 0, 0.002);
      const row = labels.subarray(position * classes, (position + 1) * classes);
      const x = logits.subarray(position * classes, (position + 1) * classes);
      // On the row's largest logit, where x - max = 0.
      row[x.indexOf(Math.max(...x))] = label;
      const backprop = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
      for (let r = 0; r < rows; r++) {
        const rowBackprop = new Float32Array(classes);
        const alone = softmaxCrossEntropyWithLogits({
          labels: labels.subarray(r * classes, (r + 1) * classes),
          logits: logits.subarray(r * classes, (r + 1) * classes),
          shape: [1, classes],
          backprop: rowBackprop,
        });
        const where = `label ${label} in row ${position}: row ${r}`;
        expect(Object.is(loss[r], alone[0]), `${where} loss ${loss[r]} vs ${alone[0]}`).toBe(true);
        expect(Array.from(backprop.subarray(r * classes, (r + 1) * classes)), `${where} backprop`).toEqual(
          Array.from(rowBackprop),
        );
      }
      if (Math.abs(label) === Infinity) {
        expect(loss[position], `label ${label} in row ${position}`).toBe(label);
      } else {
        const expected = crossEntropyRow64(row, x);
        const labelMass = row.reduce((sum, z) => sum + Math.abs(z), 0);
        const scale = Math.max(Math.abs(expected.loss), labelMass * expected.logSum);
        expect(errorInUlpOf(loss[position], expected.loss, scale)).toBeLessThanOrEqual(LOSS_MAX_ULP);
      }
      expectRowsWithinBound(labels, logits, position, classes, loss, backprop);
    }
  });

  test('positive label on a -inf logit gives +inf', () => {
    const loss = softmaxCrossEntropyWithLogits({ labels: [[1, 0]], logits: [[-Infinity, 0]] });
    expect(loss[0]).toBe(Infinity);
  });

  test('NaN in each position poisons only its row', () => {
    for (const classes of [4, 10, 16, 17, 33, 300]) {
      for (let position = 0; position < classes; position++) {
        const bits = NAN_BITS[position % NAN_BITS.length];
        const logits = new Float32Array(3 * classes).fill(0.5);
        setNaNBits(logits, classes + position, bits);
        const labels = new Float32Array(3 * classes).fill(1 / classes);
        const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [3, classes] });
        expect(loss[0]).toBeCloseTo(Math.log(classes), 5);
        expect(loss[1], `classes ${classes}, position ${position}, NaN 0x${bits.toString(16)}`).toBeNaN();
        expect(loss[2]).toBeCloseTo(Math.log(classes), 5);
      }
    }
  });

  test('backprop in place over the logits', () => {
    const random = createRandom(34);
    // Rows of up to 16 classes go in groups of 8 (AVX2) or 16 (AVX-512) rows: 9 and 21 rows end in a partial one.
    for (const [classes, rows] of [
      [3, 21],
      [7, 9],
      [10, 21],
      [16, 9],
      [1000, 9],
    ]) {
      const logits = uniform(random, rows * classes, -5, 5);
      const labels = oneHot(random, rows, classes);
      const backprop = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });

      const inPlaceLoss = softmaxCrossEntropyWithLogits({
        labels,
        logits,
        shape: [rows, classes],
        backprop: logits,
      });
      expect(Array.from(inPlaceLoss)).toEqual(Array.from(loss));
      expect(Array.from(logits)).toEqual(Array.from(backprop));
    }
  });

  test('in-place backprop on the exact fallback', () => {
    // A class that dominates by 100 leaves a sum below the maximum under 2^-60, which sends the AVX-512 rows to
    // the exact path after their first pass. That path still reads the logits the gradient overwrites.
    for (const classes of [1000, 5000]) {
      const rows = 3;
      const logits = uniform(createRandom(37), rows * classes, -1, 1);
      logits[classes + 17] = 100;
      const labels = new Float32Array(rows * classes).fill(1 / classes);
      expectInPlaceBackpropMatches(labels, logits, rows, classes, `${classes} classes`);
    }
  });

  test('in-place backprop on rows with tiny S\'', () => {
    // Rows whose sum below the maximum (S') is 0 or tiny add it up again from the logits after the first pass
    // over them. In place, that pass must not have overwritten them. Zero logits (a freshly initialized layer)
    // and any row of equal logits have S' = 0; a class 90 nats above the rest leaves only subnormal terms.
    const rowKinds: Array<[string, (row: Float32Array) => void]> = [
      ['zero logits', (row) => row.fill(0)],
      ['equal logits', (row) => row.fill(1.5)],
      ['a class 90 above the rest', (row) => row.fill(-90).fill(0, 0, 1)],
    ];
    for (const classes of [17, 100, 1000, 5000]) {
      for (const [kind, fill] of rowKinds) {
        const rows = 3;
        const random = createRandom(classes);
        const logits = uniform(random, rows * classes, -5, 5);
        fill(logits.subarray(classes, 2 * classes));
        const labels = uniform(random, rows * classes, 0, 0.01);
        labels.fill(0, classes, 2 * classes).fill(1, classes, classes + 1);
        expectInPlaceBackpropMatches(labels, logits, rows, classes, `${kind}, ${classes} classes`);
      }
    }
  });

  test('in-place backprop with negative labels', () => {
    // Rows with a negative label get exact label sums from their labels and logits, which the gradient
    // overwrites in place. Every third row has one, beside rows without, in groups of lanes and in long rows.
    for (const classes of [3, 10, 16, 17, 100, 400, 1000]) {
      const rows = 21;
      const random = createRandom(100 + classes);
      const logits = uniform(random, rows * classes, -5, 5);
      const labels = uniform(random, rows * classes, 0, 1);
      for (let r = 0; r < rows; r += 3) {
        labels[r * classes + (r % classes)] = -0.5;
      }
      expectInPlaceBackpropMatches(labels, logits, rows, classes, `${classes} classes`);
    }
  });

  test('in-place backprop with broadcast labels', () => {
    // The logits have the full shape here, so the gradient may overwrite them. Broadcast logits would throw.
    const random = createRandom(38);
    const rows = 7;
    const classes = 300;
    const logits = uniform(random, rows * classes, -4, 4);
    const labels = oneHot(random, 1, classes);
    const backprop = new Float32Array(rows * classes);
    const args = { labels, labelsShape: [1, classes], shape: [rows, classes] };
    const loss = softmaxCrossEntropyWithLogits({ ...args, logits, backprop });

    const inPlaceLoss = softmaxCrossEntropyWithLogits({ ...args, logits, backprop: logits });
    expect(Array.from(inPlaceLoss)).toEqual(Array.from(loss));
    expect(Array.from(logits)).toEqual(Array.from(backprop));

    // Here the logits, of shape [1, C], share memory with a backprop of shape [rows, C].
    const shared = uniform(random, rows * classes, -4, 4);
    const call = () =>
      softmaxCrossEntropyWithLogits({
        labels: uniform(random, rows * classes, 0, 1),
        logits: shared.subarray(0, classes),
        shape: [1, classes],
        labelsShape: [rows, classes],
        backprop: shared,
      });
    expect(call).toThrow(TypeError);
    expect(call).toThrow('The "backprop" argument overlaps the "logits" argument in memory.');
  });

  test('labels broadcast as [1, C] against many rows', () => {
    const random = createRandom(35);
    const rows = 6;
    const classes = 5;
    const logits = uniform(random, rows * classes, -3, 3);
    const labelRow = new Float32Array([0.1, 0.2, 0.3, 0.4, 0]);
    const backprop = new Float32Array(rows * classes);
    const loss = softmaxCrossEntropyWithLogits({
      labels: labelRow,
      labelsShape: [1, classes],
      logits,
      shape: [rows, classes],
      backprop,
    });
    const labels = new Float32Array(rows * classes);
    for (let r = 0; r < rows; r++) {
      labels.set(labelRow, r * classes);
    }
    expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);
  });

  test('logits broadcast as [1, C] against many label rows', () => {
    const random = createRandom(36);
    const rows = 4;
    const classes = 6;
    const logitRow = uniform(random, classes, -3, 3);
    const labels = oneHot(random, rows, classes);
    const backprop = new Float32Array(rows * classes);
    const loss = softmaxCrossEntropyWithLogits({
      labels,
      labelsShape: [rows, classes],
      logits: logitRow,
      shape: [1, classes],
      backprop,
    });
    const logits = new Float32Array(rows * classes);
    for (let r = 0; r < rows; r++) {
      logits.set(logitRow, r * classes);
    }
    expectRowsWithinBound(labels, logits, rows, classes, loss, backprop);
  });

  test('labels broadcast as [rows, 1] across classes', () => {
    const logits = new Float32Array([1, 2, 3, 0, 0, 0]);
    const labels = new Float32Array([0.5, 1]);
    const loss = softmaxCrossEntropyWithLogits({ labels, labelsShape: [2, 1], logits, shape: [2, 3] });
    const expected0 = crossEntropyRow64([0.5, 0.5, 0.5], [1, 2, 3]).loss;
    const expected1 = crossEntropyRow64([1, 1, 1], [0, 0, 0]).loss;
    expect(loss[0]).toBeCloseTo(expected0, 5);
    expect(loss[1]).toBeCloseTo(expected1, 5);
  });

  test('class axis 0, read with strides', () => {
    const random = createRandom(37);
    const classes = 4;
    const columns = 9;
    const logits = uniform(random, classes * columns, -4, 4);
    const labels = uniform(random, classes * columns, 0, 1);
    const backprop = new Float32Array(classes * columns);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [classes, columns], axis: 0, backprop });
    expect(loss).toHaveLength(columns);
    for (let c = 0; c < columns; c++) {
      const z = Array.from({ length: classes }, (_, j) => labels[j * columns + c]);
      const x = Array.from({ length: classes }, (_, j) => logits[j * columns + c]);
      const expected = crossEntropyRow64(z, x);
      expect(errorInUlpOf(loss[c], expected.loss, Math.max(expected.loss, expected.logSum))).toBeLessThanOrEqual(
        LOSS_MAX_ULP,
      );
      for (let j = 0; j < classes; j++) {
        const scale = Math.max(expected.probabilities[j], Math.abs(z[j]));
        expect(errorInUlpOf(backprop[j * columns + c], expected.backprop[j], scale)).toBeLessThanOrEqual(
          BACKPROP_MAX_ULP,
        );
      }
    }
  });

  test('bytes around out and backprop untouched', () => {
    const random = createRandom(38);
    // Short rows are written from lane order a row at a time, and most row counts leave a partial group. The
    // AVX2 set writes row tails and the losses of a partial group with stores of 32, 16, 8 and 4 bytes.
    const shapes: [number, number][] = [];
    for (const classes of [...Array.from({ length: 56 }, (_, i) => i + 1), 100, 101, 102, 103]) {
      for (const rows of [1, 2, 3, 5, 8, 9, 17, 21]) {
        shapes.push([rows, classes]);
      }
    }
    for (const [rows, classes] of shapes) {
      const elements = rows * classes;
      const logits = uniform(random, elements, -4, 4);
      const labels = oneHot(random, rows, classes);
      const lossBuffer = new Float32Array(rows + 4).fill(99);
      const gradBuffer = new Float32Array(elements + 4).fill(99);
      softmaxCrossEntropyWithLogits({
        labels,
        logits,
        shape: [rows, classes],
        out: lossBuffer.subarray(2, rows + 2),
        backprop: gradBuffer.subarray(2, elements + 2),
      });
      expect(Array.from(lossBuffer.subarray(0, 2))).toEqual([99, 99]);
      expect(Array.from(lossBuffer.subarray(rows + 2))).toEqual([99, 99]);
      expect(Array.from(gradBuffer.subarray(0, 2))).toEqual([99, 99]);
      expect(Array.from(gradBuffer.subarray(elements + 2))).toEqual([99, 99]);
    }
  });

  test('equal rows give bit-identical results wherever they sit', () => {
    const random = createRandom(39);
    for (const classes of [3, 10, 16, 17, 1000]) {
      const logitRow = uniform(random, classes, -8, 8);
      const labelRow = uniform(random, classes, 0, 1);
      const rows = 37;
      const logits = new Float32Array(rows * classes);
      const labels = new Float32Array(rows * classes);
      for (let r = 0; r < rows; r++) {
        logits.set(logitRow, r * classes);
        labels.set(labelRow, r * classes);
      }
      const backprop = new Float32Array(rows * classes);
      const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
      const firstGradient = Array.from(backprop.subarray(0, classes));
      for (let r = 1; r < rows; r++) {
        expect(Object.is(loss[r], loss[0]), `classes ${classes}, row ${r}`).toBe(true);
        expect(Array.from(backprop.subarray(r * classes, (r + 1) * classes)), `classes ${classes}, row ${r}`).toEqual(
          firstGradient,
        );
      }
    }
  });

  test('denormal, signed-zero and huge logits within bound', () => {
    const rows = [
      [1e-40, -1e-40, 0, -0],
      [1.17549435e-38, -3e38, 3e38, 0],
      [-88, -87.4, -104, -110],
      [1e-45, 2, -1e-45, 2],
    ];
    const logits = new Float32Array(rows.flat());
    const labels = new Float32Array([0.25, 0.25, 0.25, 0.25, 0, 0, 1, 0, 0.5, 0.5, 0, 0, 0, 1, 0, 0]);
    const backprop = new Float32Array(16);
    const loss = softmaxCrossEntropyWithLogits({ labels, logits, shape: [4, 4], backprop });
    expectRowsWithinBound(labels, logits, 4, 4, loss, backprop);
  });

  test('zero rows give an empty result', () => {
    const loss = softmaxCrossEntropyWithLogits({
      labels: new Float32Array(0),
      logits: new Float32Array(0),
      shape: [0, 5],
    });
    expect(loss).toHaveLength(0);
  });
});

describeEachIsa('sigmoid cross-entropy', () => {
  test('random inputs within bound', () => {
    const random = createRandom(41);
    // Kernels work on blocks of 64 (AVX2) and 128 (AVX-512) elements: lengths around them end in a partial block.
    const blockEdges = [63, 64, 65, 127, 128, 129, 255, 257];
    for (const length of [...Array.from({ length: 41 }, (_, i) => i), ...blockEdges, 1000, 100_003]) {
      const logits = uniform(random, length + 1, -40, 40).subarray(1);
      const labels = uniform(random, length, 0, 1);
      const y = sigmoidCrossEntropyWithLogits({ labels, logits });
      for (let i = 0; i < length; i++) {
        const expected = sigmoidCrossEntropy64(labels[i], logits[i]);
        const scale = Math.max(Math.abs(expected), Math.log1p(Math.exp(-Math.abs(logits[i]))));
        const error = errorInUlpOf(y[i], expected, scale);
        if (error > SIGMOID_XENT_MAX_ULP) {
          expect.fail(`z = ${labels[i]}, x = ${logits[i]}: ${y[i]} vs ${expected} (${error} ulp)`);
        }
      }
    }
  });

  test('limits at infinite logits', () => {
    const labels = new Float32Array([1, 0, 0.5, 0, 1, 0.5, 2, NaN]);
    const logits = new Float32Array([Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity, Infinity, 1]);
    const y = sigmoidCrossEntropyWithLogits({ labels, logits });
    expect(Array.from(y.subarray(0, 7))).toEqual([0, Infinity, Infinity, 0, Infinity, Infinity, -Infinity]);
    expect(y[7]).toBeNaN();
  });

  test('infinite logits at every position', () => {
    // 300 elements span whole and partial blocks on every set; the offset moves the aligned head.
    for (const offset of [0, 3]) {
      for (let position = 0; position < 300; position += 7) {
        for (const [logit, label, limit] of [
          [Infinity, 0.25, Infinity],
          [-Infinity, 0, 0],
        ]) {
          const logits = new Float32Array(300 + offset).fill(0.3).subarray(offset);
          logits[position] = logit;
          const labels = new Float32Array(300).fill(1);
          labels[position] = label;
          const y = sigmoidCrossEntropyWithLogits({ labels, logits });
          y.forEach((value, i) =>
            i === position ? expect(value).toBe(limit) : expect(value).toBeCloseTo(0.5543552, 6),
          );
        }
      }
    }
  });

  test('NaN logits in each lane position', () => {
    for (const length of [5, 8, 16, 17, 40]) {
      for (let position = 0; position < length; position++) {
        const logits = new Float32Array(length).fill(0.3);
        logits[position] = NaN;
        const y = sigmoidCrossEntropyWithLogits({ labels: new Float32Array(length).fill(1), logits });
        y.forEach((value, i) => (i === position ? expect(value).toBeNaN() : expect(value).toBeCloseTo(0.5543552, 6)));
      }
    }
  });

  test('NaN label and logit give the logit NaN', () => {
    // With two NaN operands, an instruction returns one by operand order: the result must not depend on the
    // element's position (whole block, partial block, aligned head).
    for (const length of [21, 54, 64, 70, 130, 300]) {
      for (const position of [0, 20, length - 1]) {
        const labels = new Float32Array(length).fill(0.5);
        const logits = new Float32Array(length).fill(1);
        new Uint32Array(labels.buffer)[position] = 0xfff6725d;
        new Uint32Array(logits.buffer)[position] = 0xffdca882;
        const y = sigmoidCrossEntropyWithLogits({ labels, logits });
        const bits = new Uint32Array(y.buffer, y.byteOffset, y.length)[position];
        expect(bits.toString(16), `length ${length}, position ${position}`).toBe('ffdca882');
      }
    }
  });

  test('in place over labels or logits', () => {
    const random = createRandom(42);
    const logits = uniform(random, 999, -9, 9);
    const labels = uniform(random, 999, 0, 1);
    const expected = Array.from(sigmoidCrossEntropyWithLogits({ labels, logits }));
    const logitsCopy = logits.slice();
    sigmoidCrossEntropyWithLogits({ labels, logits: logitsCopy, out: logitsCopy });
    expect(Array.from(logitsCopy)).toEqual(expected);
    const labelsCopy = labels.slice();
    sigmoidCrossEntropyWithLogits({ labels: labelsCopy, logits, out: labelsCopy });
    expect(Array.from(labelsCopy)).toEqual(expected);
  });

  test('special values against float64', () => {
    const values = new Float32Array(SPECIAL_VALUES);
    for (const label of [0, 0.5, 1, 1e-40, -0]) {
      const labels = new Float32Array(values.length).fill(label);
      const y = sigmoidCrossEntropyWithLogits({ labels, logits: values });
      for (let i = 0; i < values.length; i++) {
        const expected = sigmoidCrossEntropy64(labels[i], values[i]);
        const scale = Math.max(Math.abs(expected), Math.log1p(Math.exp(-Math.abs(values[i]))));
        const error = errorInUlpOf(y[i], expected, scale);
        expect(error, `z = ${label}, x = ${values[i]}: ${y[i]} vs ${expected}`).toBeLessThanOrEqual(
          SIGMOID_XENT_MAX_ULP,
        );
      }
    }
  });

  test('equal inputs give bit-identical results wherever they sit', () => {
    const random = createRandom(43);
    const logits = uniform(random, 1000, -20, 20);
    const labels = uniform(random, 1000, 0, 1);
    const whole = sigmoidCrossEntropyWithLogits({ labels, logits });
    for (const offset of [1, 5, 13, 16, 31]) {
      for (const length of [1, 7, 16, 33]) {
        const part = sigmoidCrossEntropyWithLogits({
          labels: labels.subarray(offset, offset + length),
          logits: logits.subarray(offset, offset + length),
        });
        expect(Array.from(part), `offset ${offset}, length ${length}`).toEqual(
          Array.from(whole.subarray(offset, offset + length)),
        );
      }
    }
  });

  test('large logits keep the tiny tail', () => {
    const y = sigmoidCrossEntropyWithLogits({ labels: [1, 0], logits: [30, -30] });
    expect(ulpError(y[0], Math.log1p(Math.exp(-30)))).toBeLessThanOrEqual(SIGMOID_XENT_MAX_ULP);
    expect(ulpError(y[1], Math.log1p(Math.exp(-30)))).toBeLessThanOrEqual(SIGMOID_XENT_MAX_ULP);
  });
});
