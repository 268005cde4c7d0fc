import { expect } from 'vitest';

/**
 * Float64 references, ulp measurement and seeded random data for the tests. The references follow the
 * numeric contract's formulas in float64, which is exact enough to judge float32 results in ulp.
 */

const F32_MIN_NORMAL = 2 ** -126;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Maps a float32 value to an integer that increases with the value, so neighbouring floats differ by 1. */
function orderedBits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  return bits & 0x80000000 ? -(bits & 0x7fffffff) : bits;
}

/**
 * Returns the distance in float32 ulp between `actual` (a float32 value) and the float32 rounding of the exact
 * result `exact`. Results below 2^-126 in magnitude may be off by 2^-126 (flushing is allowed): they count 0
 * inside that allowance. NaN against NaN and equal infinities count 0; any other NaN or infinity mismatch
 * counts Infinity.
 */
export function ulpError(actual: number, exact: number): number {
  const expected = Math.fround(exact);
  if (Number.isNaN(expected) || Number.isNaN(actual)) {
    return Number.isNaN(expected) && Number.isNaN(actual) ? 0 : Infinity;
  }
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
    return expected === actual ? 0 : Infinity;
  }
  if (Math.abs(exact) < F32_MIN_NORMAL && Math.abs(actual - exact) <= F32_MIN_NORMAL) {
    return 0;
  }
  return Math.abs(orderedBits(actual) - orderedBits(expected));
}

/** Returns the float32 ulp of |value|: the gap between it and the next float32 away from zero. */
export function ulpOf(value: number): number {
  const magnitude = Math.abs(Math.fround(value));
  if (magnitude < F32_MIN_NORMAL) {
    return 2 ** -149;
  }
  return 2 ** (Math.floor(Math.log2(magnitude)) - 23);
}

/** Returns the absolute error of `actual` in units of ulpOf(scale). */
export function errorInUlpOf(actual: number, exact: number, scale: number): number {
  if (Number.isNaN(exact) || Number.isNaN(actual)) {
    return Number.isNaN(exact) && Number.isNaN(actual) ? 0 : Infinity;
  }
  if (!Number.isFinite(exact) || !Number.isFinite(actual)) {
    return exact === actual ? 0 : Infinity;
  }
  // The contract's allowance for results below 2^-126, as in ulpError.
  if (Math.abs(exact) < F32_MIN_NORMAL && Math.abs(actual - exact) <= F32_MIN_NORMAL) {
    return 0;
  }
  return Math.abs(actual - exact) / ulpOf(scale);
}

/** A small seeded generator (mulberry32), so every failure reproduces. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns `length` float32 values uniform in [low, high). */
export function uniform(random: () => number, length: number, low: number, high: number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    values[i] = low + (high - low) * random();
  }
  return values;
}

/** Returns a one-hot rows x classes label matrix. */
export function oneHot(random: () => number, rows: number, classes: number): Float32Array {
  const labels = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    labels[r * classes + Math.floor(random() * classes)] = 1;
  }
  return labels;
}

export function sigmoid64(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

export function softmaxRow64(row: ArrayLike<number>): number[] {
  const values = Array.from(row);
  const max = Math.max(...values);
  if (Number.isNaN(max) || max === Infinity || max === -Infinity) {
    return values.map(() => NaN);
  }
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** Float64 softmax cross-entropy of one row: the loss, log S and the gradient. */
export function crossEntropyRow64(
  labels: ArrayLike<number>,
  logits: ArrayLike<number>,
): { loss: number; logSum: number; backprop: number[]; probabilities: number[] } {
  const x = Array.from(logits);
  const z = Array.from(labels);
  const max = Math.max(...x);
  if (Number.isNaN(max) || max === Infinity || max === -Infinity) {
    return { loss: NaN, logSum: NaN, backprop: x.map(() => NaN), probabilities: x.map(() => NaN) };
  }

  let maxCount = 0;
  let rest = 0;
  for (const v of x) {
    if (v === max) {
      maxCount++;
    } else {
      rest += Math.exp(v - max);
    }
  }
  const sum = maxCount + rest;
  const logSum = maxCount === 1 ? Math.log1p(rest) : Math.log(sum);

  let loss = 0;
  for (let j = 0; j < x.length; j++) {
    if (z[j] !== 0) {
      loss += z[j] * (logSum - (x[j] - max));
    }
  }
  // With labels of both signs the terms can cancel below the rounding of x - max: take Σ z (x - max) exactly.
  if (z.some((label) => label < 0)) {
    const shift = exactWeightedShift(z, x, max);
    if (Number.isFinite(shift)) {
      loss = z.reduce((sum, label) => sum + label, 0) * logSum - shift;
    }
  }
  const backprop = x.map((v, j) =>
    maxCount === 1 && v === max ? (1 - z[j] - z[j] * rest) / sum : Math.exp(v - max) / sum - z[j],
  );
  const probabilities = x.map((v) => Math.exp(v - max) / sum);
  return { loss, logSum, backprop, probabilities };
}

/**
 * Σ z_j (x_j - max) over the entries with z_j ≠ 0 and x_j ≠ max, for float32 labels, logits and max: summed
 * exactly as integers times 2^-298 (every float32 is an integer times 2^-149), then rounded once to float64.
 * NaN where one of those entries is not finite.
 */
export function exactWeightedShift(labels: ArrayLike<number>, logits: ArrayLike<number>, max: number): number {
  const scaled = (v: number): bigint => BigInt(Math.fround(v) * 2 ** 149);
  const m = scaled(max);
  let sum = 0n;
  for (let j = 0; j < labels.length; j++) {
    const z = labels[j];
    const x = logits[j];
    if (z === 0 || x === max) {
      continue;
    }
    if (!Number.isFinite(z) || !Number.isFinite(x)) {
      return NaN;
    }
    sum += scaled(z) * (scaled(x) - m);
  }
  return Number(sum) * 2 ** -298;
}

/** Float64 sigmoid cross-entropy with its limits at x = ±inf. */
export function sigmoidCrossEntropy64(z: number, x: number): number {
  if (x === Infinity) {
    return z === 1 ? 0 : (1 - z) * Infinity;
  }
  if (x === -Infinity) {
    return z === 0 ? 0 : z * Infinity;
  }
  const linear = x >= 0 ? x * (1 - z) : -x * z;
  return linear + Math.log1p(Math.exp(-Math.abs(x)));
}

/** Returns the largest ulp error of `actual` against `reference(i)` and where it occurs. */
export function maxUlpError(
  actual: ArrayLike<number>,
  reference: (i: number) => number,
): { ulp: number; index: number } {
  let worst = { ulp: 0, index: -1 };
  for (let i = 0; i < actual.length; i++) {
    const ulp = ulpError(actual[i], reference(i));
    if (ulp > worst.ulp) {
      worst = { ulp, index: i };
    }
  }
  return worst;
}

/**
 * Lengths that cover every vector tail of 4, 8 and 16 lanes, plus some larger ones. 256 to 527 straddle the
 * point where the AVX-512 sigmoid and tanh start overlapping two blocks of 128 elements (after a head of up to
 * 15 that aligns the output).
 */
export const TAIL_LENGTHS = [
  ...Array.from({ length: 41 }, (_, i) => i),
  63, 64, 65, 255, 256, 257, 271, 272, 383, 384, 399, 527, 1000, 4099, 65537,
];

/** Float32 values that stress kernels: signed zeros, denormals, limits, infinities, NaN. */
export const SPECIAL_VALUES = [
  0, -0, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754942e-38, 1.17549435e-38, -1.17549435e-38, 1e-30, 1e-10, -1e-10,
  1e-5, 0.5, -0.5, 1, -1, 2, -2, 8.5, -8.5, 15, -15, 20, -20, 40, -40, 88, -88, 88.7, -87.4, 89, -104, -110,
  1e10, -1e10, 3.4028235e38, -3.4028235e38, Infinity, -Infinity, NaN,
];

/**
 * Bit patterns of NaN: quiet and signaling, of either sign, with the smallest and largest payloads. A kernel
 * that orders floats by their bits, or tests a sign bit, can tell them apart where a float comparison cannot.
 */
export const NAN_BITS = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff];

/** Writes the NaN with the given bits into array[index]. */
export function setNaNBits(array: Float32Array, index: number, bits: number): void {
  new Uint32Array(array.buffer, array.byteOffset + index * 4, 1)[0] = bits;
}

/**
 * Asserts that each result is within `maxUlp` + 1 of a reference value printed to 8 significant digits: the
 * extra ulp allows for that rounding of the reference itself.
 */
export function expectNearReference(actual: ArrayLike<number>, reference: readonly number[], maxUlp: number): void {
  expect(actual.length).toBe(reference.length);
  for (let i = 0; i < reference.length; i++) {
    expect(ulpError(actual[i], reference[i]), `element ${i}: ${actual[i]} vs ${reference[i]}`).toBeLessThanOrEqual(
      maxUlp + 1,
    );
  }
}
