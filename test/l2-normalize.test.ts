import { describe, expect, test } from 'vitest';

import { l2Normalize, promises, type SimdNnError } from '../lib/index';
import { describeEachIsa } from './support/isa';
import { createRandom, ulpError, uniform } from './support/reference';

const MAX_ULP = 1;

// Returns x / sqrt(max(sum of x^2, epsilon)) over rows of `classes` entries spaced `inner` apart, in float64.
function normalize64(x: Float32Array, shape: number[], axis: number | undefined, epsilon = 1e-12): number[] {
  const result = new Array<number>(x.length);
  const classes = axis === undefined ? x.length : shape[axis];
  const inner = axis === undefined ? 1 : shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const rows = classes === 0 ? 0 : x.length / classes;
  for (let r = 0; r < rows; r++) {
    const base = Math.floor(r / inner) * classes * inner + (r % inner);
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      sum += x[base + j * inner] ** 2;
    }
    const norm = Math.sqrt(Math.max(sum, epsilon));
    for (let j = 0; j < classes; j++) {
      result[base + j * inner] = x[base + j * inner] / norm;
    }
  }
  return result;
}

function expectWithinUlp(actual: Float32Array, expected: number[], context: string): void {
  for (let i = 0; i < expected.length; i++) {
    const error = ulpError(actual[i], expected[i]);
    if (!(error <= MAX_ULP)) {
      expect.fail(`${context}, element ${i}: ${actual[i]} vs ${expected[i]} (${error} ulp)`);
    }
  }
}

describeEachIsa('l2Normalize', () => {
  test('random rows along every axis within 1 ulp of float64', () => {
    const random = createRandom(81);
    const shape = [3, 5, 17];
    const x = uniform(random, 3 * 5 * 17, -100, 100);
    for (const axis of [undefined, 0, 1, 2, -1]) {
      const positive = axis === undefined || axis >= 0 ? axis : axis + shape.length;
      const y = l2Normalize(x, { shape, axis });
      expectWithinUlp(y, normalize64(x, shape, positive), `axis ${axis}`);
    }
  });

  test('every row length from 0 to 40 and a long one', () => {
    const random = createRandom(82);
    for (const classes of [...Array.from({ length: 41 }, (_, i) => i), 100_000]) {
      const x = uniform(random, 3 * classes, -4, 4);
      const y = l2Normalize(x, { shape: [3, classes], axis: 1 });
      expectWithinUlp(y, normalize64(x, [3, classes], 1), `${classes} classes`);
    }
  });

  test('edge rows: huge, tiny, zero, infinite, NaN', () => {
    const cases: { x: number[]; expected: number[] }[] = [
      { x: [3, 4], expected: [0.6, 0.8] },
      { x: [1e20, 1e20], expected: [0.70710677, 0.70710677] },
      { x: [3e38, -3e38, 3e38], expected: [0.57735027, -0.57735027, 0.57735027] },
      // epsilon bounds the squared norm, so tiny vectors are divided by 1e-6.
      { x: [1e-30, -1e-30], expected: [1e-24, -1e-24] },
      { x: [1e-45, 0], expected: [Math.fround(1e-45) * 1e6, 0] },
      { x: [0, -0, 0], expected: [0, -0, 0] },
      { x: [Infinity, 1, -2], expected: [1, 0, -0] },
      { x: [2, -Infinity], expected: [0, -1] },
      { x: [Infinity, -Infinity], expected: [NaN, NaN] },
      { x: [NaN, 1], expected: [NaN, NaN] },
      { x: [NaN, Infinity], expected: [NaN, NaN] },
    ];
    for (const { x, expected } of cases) {
      const y = l2Normalize(new Float32Array(x));
      expected.forEach((value, i) => {
        if (Number.isNaN(value) || value === 0) {
          expect(Object.is(y[i], value), `[${x}], element ${i}: ${y[i]}`).toBe(true);
        } else {
          expect(ulpError(y[i], value), `[${x}], element ${i}: ${y[i]}`).toBeLessThanOrEqual(MAX_ULP);
        }
      });
    }
  });

  test('rows are independent, and equal rows give equal bits wherever they sit', () => {
    const random = createRandom(83);
    const row = uniform(random, 19, -10, 10);
    const x = new Float32Array(19 * 9);
    for (let r = 0; r < 9; r++) {
      x.set(row, r * 19);
    }
    x[4 * 19 + 3] = Infinity;
    const y = l2Normalize(x, { shape: [9, 19], axis: -1 });
    for (let r = 0; r < 9; r++) {
      if (r !== 4) {
        expect(Array.from(y.subarray(r * 19, (r + 1) * 19)), `row ${r}`).toEqual(Array.from(y.subarray(0, 19)));
      }
    }
    expect(y[4 * 19 + 3]).toBe(1);
  });

  test('in place, with a byteOffset, guard elements untouched', () => {
    const random = createRandom(84);
    const buffer = new Float32Array(2 + 24 + 2).fill(99);
    buffer.set(uniform(random, 24, -3, 3), 2);
    const x = buffer.subarray(2, 26);
    const expected = normalize64(Float32Array.from(x), [4, 6], 0);
    expect(l2Normalize(x, { shape: [4, 6], axis: 0, out: x })).toBe(x);
    expectWithinUlp(x, expected, 'in place');
    expect(Array.from(buffer.subarray(0, 2))).toEqual([99, 99]);
    expect(Array.from(buffer.subarray(26))).toEqual([99, 99]);
  });

  test('epsilon option', () => {
    const y = l2Normalize([0.3, 0.4], { epsilon: 1 });
    expectWithinUlp(y, [0.3, 0.4], 'epsilon 1');
  });
});

describe('l2Normalize arguments', () => {
  test('empty input and nested input', () => {
    expect(l2Normalize(new Float32Array(0))).toEqual(new Float32Array(0));
    expect(l2Normalize(new Float32Array(0), { shape: [0, 3], axis: 1 })).toEqual(new Float32Array(0));
    const nested = l2Normalize(
      [
        [3, 4],
        [0, 5],
      ],
      { axis: 1 },
    );
    expectWithinUlp(nested, [0.6, 0.8, 0, 1], 'nested');
  });

  test('promise version gives the same bits', async () => {
    const x = uniform(createRandom(85), 60, -2, 2);
    const sync = l2Normalize(x, { shape: [6, 10], axis: 0 });
    const asynchronous = await promises.l2Normalize(x, { shape: [6, 10], axis: 0 });
    expect(Array.from(asynchronous)).toEqual(Array.from(sync));
  });

  const cases: { name: string; call: () => unknown; code: string; message: string }[] = [
    {
      name: 'zero epsilon',
      call: () => l2Normalize(new Float32Array(2), { epsilon: 0 }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "epsilon" argument must be a positive finite number. Received 0',
    },
    {
      name: 'infinite epsilon',
      call: () => l2Normalize(new Float32Array(2), { epsilon: Infinity }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "epsilon" argument must be a positive finite number. Received Infinity',
    },
    {
      name: 'epsilon of type string',
      call: () => l2Normalize(new Float32Array(2), { epsilon: '1e-12' as never }),
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "epsilon" argument must be of type number. Received type string (\'1e-12\')',
    },
    {
      name: 'axis out of range',
      call: () => l2Normalize(new Float32Array(6), { shape: [2, 3], axis: 2 }),
      code: 'ERR_OUT_OF_RANGE',
      message: 'The "axis" argument must be an integer in [-2, 1]. Received 2',
    },
    {
      name: 'short out',
      call: () => l2Normalize(new Float32Array(6), { out: new Float32Array(5) }),
      code: 'ERR_INVALID_ARG_VALUE',
      message: 'The "out" argument must be a Float32Array of length 6 (the length of "x"). Received length 5',
    },
  ];

  test.each(cases)('$name', ({ call, code, message }) => {
    let thrown: unknown;
    try {
      call();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError);
    expect((thrown as SimdNnError).code).toBe(code);
    expect((thrown as Error).message).toBe(message);
  });
});
