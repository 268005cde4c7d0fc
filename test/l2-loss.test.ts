import { expect, test } from 'vitest';

import { l2Loss } from '../lib/index';
import { describeEachIsa } from './support/isa';
import { TAIL_LENGTHS, createRandom, ulpError, uniform } from './support/reference';

// Exact enough: each square of a float32 is exact in float64, and these sums stay far below 2^53 ulps.
function halfSumOfSquares64(x: Float32Array): number {
  let sum = 0;
  for (const v of x) {
    sum += v * v;
  }
  return sum / 2;
}

test('l2Loss of [1, 2, 3] is 7', () => {
  expect(l2Loss([1, 2, 3])).toBe(7);
});

describeEachIsa('l2Loss', () => {
  test('every tail length within 1 ulp', () => {
    const random = createRandom(51);
    for (const length of TAIL_LENGTHS) {
      for (const offset of [0, 1]) {
        const x = uniform(random, length + offset, -3, 3).subarray(offset);
        const loss = l2Loss(x);
        expect(ulpError(loss, halfSumOfSquares64(x)), `length ${length}, offset ${offset}`).toBeLessThanOrEqual(1);
      }
    }
  });

  test('no premature overflow', () => {
    expect(l2Loss([2e19])).toBe(Math.fround(Math.fround(2e19) ** 2 / 2));
    expect(l2Loss([3e38, 3e38])).toBe(Infinity);
  });

  test('tiny values are not lost', () => {
    const loss = l2Loss(new Float32Array(1000).fill(1e-20));
    expect(ulpError(loss, 1000 * Math.fround(1e-20) ** 2 / 2)).toBeLessThanOrEqual(1);
  });

  test('empty input is 0', () => {
    expect(l2Loss(new Float32Array(0))).toBe(0);
    expect(l2Loss([])).toBe(0);
  });

  test('NaN and infinities', () => {
    for (const length of [1, 9, 17, 33]) {
      for (let position = 0; position < length; position++) {
        const x = new Float32Array(length).fill(1);
        x[position] = NaN;
        expect(l2Loss(x), `length ${length}, position ${position}`).toBeNaN();
      }
    }
    expect(l2Loss([1, -Infinity])).toBe(Infinity);
  });

  test('a result that is float32, not float64', () => {
    const loss = l2Loss([0.1]);
    expect(loss).toBe(Math.fround(loss));
  });
});
