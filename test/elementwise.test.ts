import { describe, expect, test } from 'vitest';

import { binding } from '../lib/binding';
import { leakyRelu, logSigmoid, relu, relu6, sigmoid, silu, softplus, softsign, tanh } from '../lib/index';
import { describeEachIsa } from './support/isa';
import {
  SPECIAL_VALUES,
  TAIL_LENGTHS,
  createRandom,
  expectNearReference,
  maxUlpError,
  NAN_BITS,
  setNaNBits,
  sigmoid64,
  uniform,
} from './support/reference';
import { readMxcsrControl } from './support/mxcsr';

type Activation = (x: Float32Array, options?: { out?: Float32Array }) => Float32Array;

interface Case {
  name: string;
  fn: Activation;
  reference: (x: number) => number;
  maxUlp: number;
  low: number;
  high: number;
}

const relu64 = (x: number) => (x > 0 ? x : Number.isNaN(x) ? x : 0);
const relu6_64 = (x: number) => (Number.isNaN(x) ? x : Math.min(Math.max(x, 0), 6));
// The exact result for the float32 alpha; the kernel rounds it once.
const leaky64 = (alpha: number) => (x: number) => (x > 0 ? x : Math.fround(alpha) * x);
const softplus64 = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const logSigmoid64 = (x: number) => -softplus64(-x);
const softsign64 = (x: number) => (Number.isFinite(x) ? x / (Math.abs(x) + 1) : Math.sign(x));
// x * sigmoid(beta x) for the float32 beta, with the limits at +-inf: x where beta x is +inf or beta is 0,
// else 0 with the sign of x.
const silu64 = (beta: number) => (x: number) => {
  const factor = Math.fround(beta);
  const t = factor * x;
  if (!Number.isFinite(x)) {
    return Number.isNaN(x) || factor === 0 || t > 0 ? x : Math.sign(x) * 0;
  }
  const e = Math.exp(-Math.abs(t));
  return t < 0 ? (x * e) / (1 + e) : x / (1 + e);
};

// leaky_relu and silu with a fixed parameter, in the shape of the other activations.
const leakyWith =
  (alpha: number): Activation =>
  (x, options) =>
    leakyRelu(x, { ...options, alpha });
const siluWith =
  (beta: number): Activation =>
  (x, options) =>
    silu(x, { ...options, beta });

const CASES: Case[] = [
  { name: 'relu', fn: relu, reference: relu64, maxUlp: 0, low: -10, high: 10 },
  { name: 'relu6', fn: relu6, reference: relu6_64, maxUlp: 0, low: -4, high: 10 },
  { name: 'leakyRelu (alpha 0.2)', fn: leakyRelu, reference: leaky64(0.2), maxUlp: 0, low: -10, high: 10 },
  { name: 'leakyRelu (alpha 1.5)', fn: leakyWith(1.5), reference: leaky64(1.5), maxUlp: 0, low: -10, high: 10 },
  { name: 'leakyRelu (alpha -0.3)', fn: leakyWith(-0.3), reference: leaky64(-0.3), maxUlp: 0, low: -10, high: 10 },
  { name: 'sigmoid', fn: sigmoid, reference: sigmoid64, maxUlp: 2, low: -30, high: 30 },
  { name: 'tanh', fn: tanh, reference: Math.tanh, maxUlp: 2, low: -12, high: 12 },
  { name: 'softplus', fn: softplus, reference: softplus64, maxUlp: 2, low: -90, high: 30 },
  { name: 'logSigmoid', fn: logSigmoid, reference: logSigmoid64, maxUlp: 2, low: -30, high: 90 },
  { name: 'softsign', fn: softsign, reference: softsign64, maxUlp: 1, low: -20, high: 20 },
  { name: 'silu', fn: silu, reference: silu64(1), maxUlp: 2, low: -95, high: 30 },
  { name: 'silu (beta 1.702)', fn: siluWith(1.702), reference: silu64(1.702), maxUlp: 2, low: -60, high: 20 },
  { name: 'silu (beta -0.75)', fn: siluWith(-0.75), reference: silu64(-0.75), maxUlp: 2, low: -30, high: 120 },
];

const SENTINEL = 12345.5;

describe('reference values', () => {
  const x = [-3, -1, 0, 2, 4];

  test('relu of [-3, -1, 0, 2, 4]', () => {
    expect(Array.from(relu(x))).toEqual([0, 0, 0, 2, 4]);
  });

  test('sigmoid of [-3, -1, 0, 2, 4]', () => {
    expectNearReference(sigmoid(x), [0.047425874, 0.26894143, 0.5, 0.88079709, 0.98201376], 2);
  });

  test('tanh of [-3, -1, 0, 2, 4]', () => {
    expectNearReference(tanh(x), [-0.99505478, -0.76159418, 0, 0.96402758, 0.99932933], 2);
  });

  test('examples of the newer activations', () => {
    expect(Array.from(relu6([-3, 2, 9]))).toEqual([0, 2, 6]);
    expect(Array.from(leakyRelu([-10, 0, 3]))).toEqual([Math.fround(-2), 0, 3]);
    expectNearReference(softplus([-20]), [2.0611537e-9], 2);
    expect(logSigmoid([-100])[0]).toBe(-100);
    expect(Array.from(softsign([-Infinity, Infinity]))).toEqual([-1, 1]);
  });
});

describeEachIsa('element-wise', (isa) => {
  test('reports the active set', () => {
    expect(binding.info().isa).toBe(isa);
  });

  for (const { name, fn, reference, maxUlp, low, high } of CASES) {
    describe(name, () => {
      test('random inputs within bound', () => {
        const random = createRandom(0x5eed + maxUlp);
        const x = uniform(random, 100_003, low, high);
        const y = fn(x);
        const worst = maxUlpError(y, (i) => reference(x[i]));
        expect(worst.ulp, `worst at x = ${x[worst.index]}`).toBeLessThanOrEqual(maxUlp);
      });

      test('wide-range inputs within bound', () => {
        const random = createRandom(17);
        const x = new Float32Array(20_000);
        for (let i = 0; i < x.length; i++) {
          // Magnitudes from 2^-140 to 2^100 with random signs.
          x[i] = (random() < 0.5 ? -1 : 1) * 2 ** (-140 + 240 * random());
        }
        const y = fn(x);
        const worst = maxUlpError(y, (i) => reference(x[i]));
        expect(worst.ulp, `worst at x = ${x[worst.index]}`).toBeLessThanOrEqual(maxUlp);
      });

      test('special values', () => {
        const x = new Float32Array(SPECIAL_VALUES);
        const y = fn(x);
        for (let i = 0; i < x.length; i++) {
          const worst = maxUlpError([y[i]], () => reference(x[i]));
          expect(worst.ulp, `${name}(${x[i]}) = ${y[i]}`).toBeLessThanOrEqual(maxUlp);
        }
      });

      test('NaN in each lane position', () => {
        for (const length of [1, 7, 8, 9, 15, 16, 17, 33, 40]) {
          for (let position = 0; position < length; position++) {
            const x = new Float32Array(length).fill(0.25);
            setNaNBits(x, position, NAN_BITS[position % NAN_BITS.length]);
            const y = fn(x);
            for (let i = 0; i < length; i++) {
              if (i === position) {
                expect(y[i], `length ${length}, position ${i}`).toBeNaN();
              } else {
                expect(y[i], `length ${length}, position ${i}`).toBe(fn(new Float32Array([0.25]))[0]);
              }
            }
          }
        }
      });

      test('every tail length and offset, bit-identical', () => {
        const random = createRandom(99);
        const longest = Math.max(...TAIL_LENGTHS);
        const source = uniform(random, longest + 3, low, high);
        const whole = fn(source);

        for (const length of TAIL_LENGTHS) {
          for (const offset of [0, 1, 3]) {
            const x = source.subarray(offset, offset + length);

            // The output is a view with guard elements on both sides.
            const guarded = new Float32Array(length + 2 * 5).fill(SENTINEL);
            const out = guarded.subarray(5, 5 + length);
            const result = fn(x, { out });

            expect(result).toBe(out);
            for (let i = 0; i < length; i++) {
              if (!Object.is(out[i], whole[offset + i])) {
                expect.fail(`length ${length}, offset ${offset}, index ${i}: ${out[i]} != ${whole[offset + i]}`);
              }
            }
            expect(Array.from(guarded.subarray(0, 5))).toEqual(Array(5).fill(SENTINEL));
            expect(Array.from(guarded.subarray(5 + length))).toEqual(Array(5).fill(SENTINEL));
          }
        }
      });

      test('special values in long arrays', () => {
        // Long enough for the blocked and pipelined paths. Each special value lands in many lane positions.
        const random = createRandom(21);
        const x = uniform(random, 5000, low, high);
        for (let i = 0; i < x.length; i += 7) {
          x[i] = SPECIAL_VALUES[(i / 7) % SPECIAL_VALUES.length];
        }
        for (const offset of [0, 5]) {
          const view = x.subarray(offset);
          const y = fn(view);
          for (let i = (7 - offset) % 7; i < view.length; i += 7) {
            const alone = fn(new Float32Array([view[i]]))[0];
            if (!Object.is(y[i], alone)) {
              expect.fail(`${name}(${view[i]}) at index ${i} of a view at offset ${offset}: ${y[i]} != ${alone}`);
            }
          }
          const copy = view.slice();
          fn(copy, { out: copy });
          expect(Array.from(copy)).toEqual(Array.from(y));
        }
      });

      test('in place when out is the input', () => {
        const random = createRandom(5);
        const x = uniform(random, 1001, low, high);
        const expected = fn(x);
        const result = fn(x, { out: x });
        expect(result).toBe(x);
        expect(Array.from(x)).toEqual(Array.from(expected));
      });

      test('view with a non-zero byteOffset', () => {
        const buffer = new ArrayBuffer(4 * 40);
        const x = new Float32Array(buffer, 4, 37);
        x.set(uniform(createRandom(8), 37, low, high));
        const y = fn(x);
        const worst = maxUlpError(y, (i) => reference(x[i]));
        expect(worst.ulp).toBeLessThanOrEqual(maxUlp);
      });

      test('empty input', () => {
        expect(fn(new Float32Array(0))).toHaveLength(0);
      });
    });
  }

  describe('edge rules', () => {
    test('relu of infinities and NaN', () => {
      const y = relu(new Float32Array([-Infinity, Infinity, NaN, -5]));
      expect(y[0]).toBe(0);
      expect(y[1]).toBe(Infinity);
      expect(y[2]).toBeNaN();
      expect(y[3]).toBe(0);
    });

    test('sigmoid limits and range', () => {
      const y = sigmoid(new Float32Array([-Infinity, Infinity, NaN, -200, 200, 1e-40]));
      expect(y[0]).toBe(0);
      expect(y[1]).toBe(1);
      expect(y[2]).toBeNaN();
      expect(y[3]).toBe(0);
      expect(y[4]).toBe(1);
      expect(y[5]).toBe(0.5);
    });

    test('sigmoid never leaves [0, 1]', () => {
      const x = uniform(createRandom(3), 50_000, -120, 120);
      const y = sigmoid(x);
      expect(Math.min(...y)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...y)).toBeLessThanOrEqual(1);
    });

    test('tanh limits, signed zero and tiny inputs', () => {
      const y = tanh(new Float32Array([-Infinity, Infinity, NaN, -0, 0, 1e-30, -1e-30, 20, -20]));
      expect(y[0]).toBe(-1);
      expect(y[1]).toBe(1);
      expect(y[2]).toBeNaN();
      expect(Object.is(y[3], -0)).toBe(true);
      expect(Object.is(y[4], 0)).toBe(true);
      expect(y[5]).toBe(Math.fround(1e-30));
      expect(y[6]).toBe(Math.fround(-1e-30));
      expect(y[7]).toBe(1);
      expect(y[8]).toBe(-1);
    });

    test('relu6 clamps at 0 and 6 and keeps NaN', () => {
      const y = relu6(new Float32Array([-Infinity, -1, 0, 5.999999, 6, 6.000001, 1e30, Infinity, NaN]));
      expect(Array.from(y.subarray(0, 8))).toEqual([0, 0, 0, Math.fround(5.999999), 6, 6, 6, 6]);
      expect(y[8]).toBeNaN();
    });

    test('leakyRelu alpha signs and limits', () => {
      const x = new Float32Array([-Infinity, -2, -0, 0, 3, Infinity, NaN]);
      // TensorFlow's max(x, alpha * x) would pick alpha * x for positive x when alpha > 1.
      expect(Array.from(leakyRelu(x, { alpha: 2 }).subarray(0, 6))).toEqual([-Infinity, -4, -0, 0, 3, Infinity]);
      expect(Array.from(leakyRelu(x, { alpha: -0.5 }).subarray(0, 6))).toEqual([Infinity, 1, 0, -0, 3, Infinity]);
      // alpha = 0 keeps the signs of 0 * x, and -inf gives the limit of 0 * x, -0.
      const zero = leakyRelu(x, { alpha: 0 });
      expect(Array.from(zero.subarray(0, 6))).toEqual([-0, -0, -0, 0, 3, Infinity]);
      expect(zero[6]).toBeNaN();
      const negativeZero = leakyRelu(x, { alpha: -0 });
      expect(Array.from(negativeZero.subarray(0, 6))).toEqual([0, 0, 0, -0, 3, Infinity]);
      // An alpha that rounds to 0 in float32 is 0.
      expect(leakyRelu([-Infinity, -5], { alpha: 1e-50 })).toEqual(new Float32Array([-0, -0]));
      // alpha is rounded to float32 before the product, which is rounded once.
      expect(leakyRelu([-3], { alpha: 0.1 })[0]).toBe(Math.fround(Math.fround(0.1) * -3));
    });

    test('softplus and logSigmoid limits and tails', () => {
      const x = new Float32Array([-Infinity, Infinity, NaN, -100, 100, 0, -0]);
      const plus = softplus(x);
      expect(plus[0]).toBe(0);
      expect(plus[1]).toBe(Infinity);
      expect(plus[2]).toBeNaN();
      expect(plus[3]).toBeGreaterThan(0); // e^-100, a denormal: kept or flushed within 2^-126
      expect(plus[3]).toBeLessThan(2 ** -126);
      expect(plus[4]).toBe(100);
      expect(plus[5]).toBe(Math.fround(Math.LN2));
      expect(plus[6]).toBe(Math.fround(Math.LN2));

      const log = logSigmoid(x);
      expect(log[0]).toBe(-Infinity);
      expect(Object.is(log[1], -0)).toBe(true);
      expect(log[2]).toBeNaN();
      expect(log[3]).toBe(-100);
      expect(log[4]).toBeLessThanOrEqual(0);
      expect(log[5]).toBe(Math.fround(-Math.LN2));
    });

    test('softplus and logSigmoid signs', () => {
      const x = uniform(createRandom(6), 50_000, -120, 120);
      expect(Math.min(...softplus(x))).toBeGreaterThanOrEqual(0);
      expect(Math.max(...logSigmoid(x))).toBeLessThanOrEqual(0);
    });

    test('softsign limits, signed zero and tiny inputs', () => {
      const y = softsign(new Float32Array([-Infinity, Infinity, NaN, -0, 0, 1e-40, -3.4028235e38, 1e30]));
      expect(y[0]).toBe(-1);
      expect(y[1]).toBe(1);
      expect(y[2]).toBeNaN();
      expect(Object.is(y[3], -0)).toBe(true);
      expect(Object.is(y[4], 0)).toBe(true);
      expect(y[5]).toBe(Math.fround(1e-40));
      expect(y[6]).toBe(-1);
      expect(y[7]).toBe(1);
      const z = softsign(uniform(createRandom(7), 50_000, -1e6, 1e6));
      expect(Math.min(...z)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...z)).toBeLessThanOrEqual(1);
    });

    test('silu limits, signed zero and tail', () => {
      const x = new Float32Array([-Infinity, Infinity, NaN, -0, 0, -90, 1e-40]);
      const y = silu(x);
      expect(Object.is(y[0], -0)).toBe(true);
      expect(y[1]).toBe(Infinity);
      expect(y[2]).toBeNaN();
      expect(Object.is(y[3], -0)).toBe(true);
      expect(Object.is(y[4], 0)).toBe(true);
      // -90 e^-90 is a normal float: kept to 2 ulp, not flushed as x * sigmoid(x) with a flushed sigmoid would.
      expect(maxUlpError([y[5]], () => silu64(1)(-90)).ulp).toBeLessThanOrEqual(2);
      expect(y[6]).toBe(Math.fround(5e-41));
    });

    test('silu beta 0, negative and huge', () => {
      const x = new Float32Array([-Infinity, -4, 3, Infinity]);
      expect(Array.from(silu(x, { beta: 0 }))).toEqual([-Infinity, -2, 1.5, Infinity]);
      const negative = silu(x, { beta: -2 });
      expect(negative[0]).toBe(-Infinity);
      expect(Object.is(negative[3], 0)).toBe(true);
      // beta x overflows float32 here: the sigmoid is exactly 0 or 1.
      expect(Array.from(silu([-1e10, 1e10], { beta: 1e30 }))).toEqual([-0, 1e10].map(Math.fround));
      // A tiny beta and a large x: e^(beta x) far below 2^-126, times x, is still a normal float.
      const y = silu([-1e7], { beta: 1e-5 });
      expect(maxUlpError(y, () => silu64(1e-5)(-1e7)).ulp).toBeLessThanOrEqual(2);
      expect(y[0]).toBeLessThan(-1e-38);
    });

    test('tanh never exceeds 1 in magnitude', () => {
      const x = uniform(createRandom(4), 50_000, -20, 20);
      const y = tanh(x);
      expect(Math.min(...y)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...y)).toBeLessThanOrEqual(1);
    });
  });

  describe('internal exp', () => {
    test('exp within 2 ulp on its range', () => {
      const x = uniform(createRandom(12), 50_000, -87, 88.7);
      const y = new Float32Array(x.length);
      binding.testingExp(x, y);
      const worst = maxUlpError(y, (i) => Math.exp(x[i]));
      expect(worst.ulp, `worst at x = ${x[worst.index]}`).toBeLessThanOrEqual(2);
    });

    test('exp of limits', () => {
      const x = new Float32Array([-Infinity, Infinity, NaN, 0, -0, 89, -104, 88.72283]);
      const y = new Float32Array(x.length);
      binding.testingExp(x, y);
      expect(y[0]).toBe(0);
      expect(y[1]).toBe(Infinity);
      expect(y[2]).toBeNaN();
      expect(y[3]).toBe(1);
      expect(y[4]).toBe(1);
      expect(y[5]).toBe(Infinity);
      expect(y[6]).toBeLessThanOrEqual(2 ** -126);
      expect(Number.isFinite(y[7])).toBe(true);
    });
  });

  test('MXCSR unchanged by every kernel', () => {
    const before = readMxcsrControl();
    const x = new Float32Array(SPECIAL_VALUES);
    for (const { fn } of CASES) {
      fn(x);
    }
    binding.testingExp(x, new Float32Array(x.length));
    expect(readMxcsrControl()).toBe(before);
  });
});
