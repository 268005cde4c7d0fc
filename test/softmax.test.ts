import { describe, expect, test } from 'vitest';

import { softmax } from '../lib/index';
import { describeEachIsa } from './support/isa';
import {
  createRandom,
  expectNearReference,
  maxUlpError,
  NAN_BITS,
  setNaNBits,
  softmaxRow64,
  uniform,
} from './support/reference';

const MAX_ULP = 8;

// Float64 softmax of a flat rows x classes matrix.
function softmaxRows64(x: Float32Array, classes: number): number[] {
  const result: number[] = [];
  for (let r = 0; r * classes < x.length; r++) {
    result.push(...softmaxRow64(x.subarray(r * classes, (r + 1) * classes)));
  }
  return result;
}

// Moves axis `axis` of a row-major tensor to the end, so a last-axis reference can check any axis.
function moveAxisLast(x: Float32Array, shape: number[], axis: number): { data: Float32Array; order: number[] } {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const classes = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(x.length);
  const order: number[] = [];
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let j = 0; j < classes; j++) {
        const source = o * classes * inner + j * inner + i;
        data[k++] = x[source];
        order.push(source);
      }
    }
  }
  return { data, order };
}

describe('reference values', () => {
  test('softmax of [2, 1, 0.1]', () => {
    expectNearReference(softmax([2, 1, 0.1]), [0.65900111, 0.24243297, 0.098565891], MAX_ULP);
  });

  test('softmax of [2.5, 0.3, -1.2]', () => {
    expectNearReference(softmax([2.5, 0.3, -1.2]), [0.88064861, 0.097578652, 0.021772739], MAX_ULP);
  });
});

describeEachIsa('softmax', () => {
  test('every class count from 1 to 40 and larger, within bound', () => {
    const random = createRandom(21);
    for (const classes of [...Array.from({ length: 40 }, (_, i) => i + 1), 63, 64, 65, 100, 1000, 4097]) {
      for (const rows of [1, 3, 17, 33]) {
        // A view at byteOffset 4, so rows start at addresses that are only 4-byte aligned.
        const x = uniform(random, rows * classes + 1, -20, 20).subarray(1);
        const y = softmax(x, { shape: [rows, classes] });
        const expected = softmaxRows64(x, classes);
        const worst = maxUlpError(y, (i) => expected[i]);
        expect(worst.ulp, `${rows} x ${classes}, worst at ${worst.index}`).toBeLessThanOrEqual(MAX_ULP);
      }
    }
  });

  test('65,536 classes within bound', () => {
    const x = uniform(createRandom(22), 65_536, -5, 5);
    const y = softmax(x);
    const expected = softmaxRow64(x);
    const worst = maxUlpError(y, (i) => expected[i]);
    expect(worst.ulp, `worst at ${worst.index}`).toBeLessThanOrEqual(MAX_ULP);
  });

  test('wide logit ranges keep tiny probabilities', () => {
    const x = uniform(createRandom(23), 50 * 200, -100, 100);
    const y = softmax(x, { shape: [50, 200] });
    const expected = softmaxRows64(x, 200);
    const worst = maxUlpError(y, (i) => expected[i]);
    expect(worst.ulp, `worst at ${worst.index}`).toBeLessThanOrEqual(MAX_ULP);
  });

  test('long rows round subnormal outputs', () => {
    // The contract lets results below 2^-126 be off by up to 2^-126. These rows do better: their exponentials
    // keep about 1 ulp down to 2^-158, so each subnormal output is within two subnormal steps (2^-148). Just
    // below 2^-126, the exponential's own ulp makes up to 1.51 steps (AVX-512, rows of 1024 classes). Rows
    // short enough to run across rows (up to 24 classes on AVX2) may flush such results, as the contract allows.
    const random = createRandom(24);
    for (const classes of [25, 100, 1000]) {
      const rows = 8;
      const x = uniform(random, rows * classes, -110, -80);
      for (let r = 0; r < rows; r++) {
        x[r * classes + ((r * 5) % classes)] = 0;
      }
      const y = softmax(x, { shape: [rows, classes] });
      const expected = softmaxRows64(x, classes);
      for (let i = 0; i < y.length; i++) {
        if (expected[i] < 2 ** -126) {
          expect(Math.abs(y[i] - expected[i]), `${classes} classes, element ${i}`).toBeLessThanOrEqual(2 ** -148);
        }
      }
    }
  });

  test('special values in every row position', () => {
    const values = new Float32Array(
      [0, -0, 1e-45, -1e-45, 1e-40, 1.17549435e-38, 1e-10, 0.5, -1, 15, -15, 40, -40, 88, -88, -104, -110, 1e10,
        -1e10, -3e38, -Infinity].map((v) => Math.fround(v)),
    );
    for (let shift = 0; shift < values.length; shift++) {
      const row = new Float32Array(values.length);
      for (let j = 0; j < values.length; j++) {
        row[j] = values[(j + shift) % values.length];
      }
      const y = softmax(row);
      const expected = softmaxRow64(row);
      const worst = maxUlpError(y, (i) => expected[i]);
      expect(worst.ulp, `shift ${shift}, worst at ${worst.index}`).toBeLessThanOrEqual(MAX_ULP);
    }
  });

  test('-inf logits give exact zeros', () => {
    // Long rows take the fast exponential (from 25 classes on AVX2, from 49 on AVX-512), which turns entries
    // far below the maximum into 0 or a value below 2^-126. A -inf entry must still give exactly 0.
    const random = createRandom(29);
    for (const classes of [5, 17, 40, 1000]) {
      const x = uniform(random, 3 * classes, -5, 5);
      const far = [-Infinity, -87.3, -87.9, -88.03, -88.1, -100, -1e30];
      const positions = far.map((_, k) => (k * 7 + 1) % classes);
      for (let r = 0; r < 3; r++) {
        const row = x.subarray(r * classes, (r + 1) * classes);
        const max = Math.max(...row);
        positions.forEach((position, k) => {
          row[(position + r) % classes] = far[k] === -Infinity ? -Infinity : Math.fround(max + far[k]);
        });
      }
      const y = softmax(x, { shape: [3, classes] });
      const expected = softmaxRows64(x, classes);
      for (let i = 0; i < x.length; i++) {
        if (x[i] === -Infinity) {
          expect(Object.is(y[i], 0), `classes ${classes}, element ${i}: ${y[i]}`).toBe(true);
        }
        if (Math.abs(expected[i]) < 2 ** -126) {
          expect(Math.abs(y[i] - expected[i]), `classes ${classes}, element ${i}`).toBeLessThanOrEqual(2 ** -126);
        }
      }
      const worst = maxUlpError(y, (i) => expected[i]);
      expect(worst.ulp, `classes ${classes}, worst at ${worst.index}`).toBeLessThanOrEqual(MAX_ULP);
    }
  });

  test('huge logits do not overflow', () => {
    const y = softmax([3e38, 3e38, -3e38]);
    expect(Array.from(y)).toEqual([0.5, 0.5, 0]);
  });

  test('edge rows', () => {
    const rows = [
      { x: [1, -Infinity, 2], check: (y: Float32Array) => expect(y[1]).toBe(0) },
      { x: [-Infinity, -Infinity, -Infinity], check: (y: Float32Array) => y.forEach((v) => expect(v).toBeNaN()) },
      { x: [1, Infinity, 2], check: (y: Float32Array) => y.forEach((v) => expect(v).toBeNaN()) },
      { x: [Infinity, Infinity, 2], check: (y: Float32Array) => y.forEach((v) => expect(v).toBeNaN()) },
      { x: [1, NaN, 2], check: (y: Float32Array) => y.forEach((v) => expect(v).toBeNaN()) },
      { x: [-Infinity, 5, -Infinity], check: (y: Float32Array) => expect(Array.from(y)).toEqual([0, 1, 0]) },
      { x: [1e-40, -1e-40, 0], check: (y: Float32Array) => y.forEach((v) => expect(v).toBeCloseTo(1 / 3, 7)) },
    ];
    for (const { x, check } of rows) {
      check(softmax(x));
    }
  });

  test('NaN in each position poisons only its row', () => {
    for (const classes of [3, 8, 16, 17, 40, 300]) {
      for (let position = 0; position < classes; position++) {
        const bits = NAN_BITS[position % NAN_BITS.length];
        const x = new Float32Array(3 * classes).fill(0.5);
        setNaNBits(x, classes + position, bits);
        const y = softmax(x, { shape: [3, classes] });
        const where = `classes ${classes}, position ${position}, NaN 0x${bits.toString(16)}`;
        for (let j = 0; j < classes; j++) {
          expect(y[j]).toBeCloseTo(1 / classes, 6);
          expect(y[classes + j], where).toBeNaN();
          expect(y[2 * classes + j]).toBeCloseTo(1 / classes, 6);
        }
      }
    }
  });

  test('equal rows give bit-identical results wherever they sit', () => {
    const random = createRandom(24);
    for (const classes of [5, 16, 31, 1000]) {
      const row = uniform(random, classes, -8, 8);
      const rows = 37;
      const x = new Float32Array(rows * classes);
      for (let r = 0; r < rows; r++) {
        x.set(row, r * classes);
      }
      const y = softmax(x, { shape: [rows, classes] });
      const first = Array.from(y.subarray(0, classes));
      for (let r = 1; r < rows; r++) {
        expect(Array.from(y.subarray(r * classes, (r + 1) * classes)), `row ${r}`).toEqual(first);
      }
    }
  });

  test('short rows ignore their neighbours', () => {
    // On AVX-512, rows of up to 16 classes share vectors, and a row whose maximum the fast path cannot take
    // (beyond 65536, infinite, all -inf, or NaN) is computed apart. Its neighbours must not notice.
    const random = createRandom(25);
    for (const classes of [3, 9, 16]) {
      const row = uniform(random, classes, -8, 8);
      const alone = softmax(row);
      const oddRows = [
        Float32Array.from({ length: classes }, (_, j) => (j === 0 ? 1e5 : 0)),
        Float32Array.from({ length: classes }, (_, j) => (j === classes - 1 ? Infinity : 0)),
        new Float32Array(classes).fill(-Infinity),
        Float32Array.from({ length: classes }, (_, j) => (j === 1 ? NaN : 0)),
      ];
      const rows = 70;
      const x = new Float32Array(rows * classes);
      for (let r = 0; r < rows; r++) {
        x.set(r % 5 === 2 ? oddRows[(r / 5) % oddRows.length | 0] : row, r * classes);
      }
      for (const inPlace of [false, true]) {
        const input = x.slice();
        const y = softmax(input, { shape: [rows, classes], out: inPlace ? input : undefined });
        for (let r = 0; r < rows; r++) {
          const got = y.subarray(r * classes, (r + 1) * classes);
          const expected = r % 5 === 2 ? softmax(x.subarray(r * classes, (r + 1) * classes)) : alone;
          for (let j = 0; j < classes; j++) {
            if (!Object.is(got[j], expected[j])) {
              expect.fail(`${classes} classes, row ${r}, class ${j}, in place ${inPlace}: ${got[j]} != ${expected[j]}`);
            }
          }
        }
      }
    }
  });

  test('any axis, read with strides', () => {
    const random = createRandom(25);
    const shape = [3, 7, 5, 4];
    const x = uniform(random, 3 * 7 * 5 * 4, -6, 6);
    for (const axis of [0, 1, 2, 3, -1, -2, -3, -4]) {
      const normalized = axis < 0 ? axis + shape.length : axis;
      const y = softmax(x, { shape, axis });
      const { data, order } = moveAxisLast(x, shape, normalized);
      const expected = softmaxRows64(data, shape[normalized]);
      for (let k = 0; k < order.length; k++) {
        const worst = maxUlpError([y[order[k]]], () => expected[k]);
        expect(worst.ulp, `axis ${axis}, element ${order[k]}`).toBeLessThanOrEqual(MAX_ULP);
      }
    }
  });

  test('axis 0 in place over a large strided tensor', () => {
    const shape = [10, 3000];
    const x = uniform(createRandom(26), 30_000, -4, 4);
    const expected = softmax(x, { shape, axis: 0 });
    const result = softmax(x, { shape, axis: 0, out: x });
    expect(result).toBe(x);
    expect(Array.from(x)).toEqual(Array.from(expected));
  });

  test('in place over contiguous rows', () => {
    const x = uniform(createRandom(27), 64 * 10, -4, 4);
    const expected = softmax(x, { shape: [64, 10] });
    softmax(x, { shape: [64, 10], out: x });
    expect(Array.from(x)).toEqual(Array.from(expected));
  });

  test('row tails: guards kept, in place identical', () => {
    const random = createRandom(28);
    // Row tails of every length mod 8 and 16, in groups across rows (up to 24 classes on AVX2, 48 on AVX-512)
    // and within rows. The AVX2 set writes each tail with stores of 32, 16, 8 and 4 bytes.
    const classCounts = [...Array.from({ length: 56 }, (_, i) => i + 1), 100, 101, 102, 103];
    for (const classes of classCounts) {
      for (const rows of [1, 2, 3, 5, 8, 9, 17]) {
        const elements = rows * classes;
        const x = uniform(random, elements, -4, 4);
        const guarded = new Float32Array(elements + 6).fill(-7);
        const out = guarded.subarray(3, 3 + elements);
        softmax(x, { shape: [rows, classes], out });
        expect(Array.from(guarded.subarray(0, 3)), `${rows} x ${classes}`).toEqual([-7, -7, -7]);
        expect(Array.from(guarded.subarray(3 + elements)), `${rows} x ${classes}`).toEqual([-7, -7, -7]);
        softmax(x, { shape: [rows, classes], out: x });
        expect(new Uint32Array(x.buffer), `${rows} x ${classes}`).toEqual(new Uint32Array(out.slice().buffer));
      }
    }
  });

  test('empty and zero-sized shapes', () => {
    expect(softmax(new Float32Array(0))).toHaveLength(0);
    expect(softmax(new Float32Array(0), { shape: [0, 10] })).toHaveLength(0);
    expect(softmax(new Float32Array(0), { shape: [4, 0] })).toHaveLength(0);
    expect(softmax(new Float32Array(0), { shape: [3, 0, 2], axis: 0 })).toHaveLength(0);
  });

  test('nested input keeps its shape', () => {
    const y = softmax([
      [1, 2, 3],
      [0, 0, 0],
    ]);
    expect(y).toHaveLength(6);
    expect(y[3]).toBeCloseTo(1 / 3, 7);
    const columns = softmax(
      [
        [0, 1],
        [0, 1],
      ],
      { axis: 0 },
    );
    expect(Array.from(columns)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });
});
