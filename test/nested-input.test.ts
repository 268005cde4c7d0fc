import { describe, expect, test } from 'vitest';

import { l2Loss, relu, sigmoidCrossEntropyWithLogits, softmax, softmaxCrossEntropyWithLogits } from '../lib/index';

describe('nested number arrays', () => {
  test('copied once into float32', () => {
    const input = [
      [0.1, -2],
      [3, -4],
    ];
    const y = relu(input);
    expect(y).toBeInstanceOf(Float32Array);
    expect(Array.from(y)).toEqual([Math.fround(0.1), 0, 3, 0]);
    expect(input[0][0]).toBe(0.1);
  });

  test('flat array reshaped by the shape option', () => {
    const y = softmax([0, 0, 1, 1], { shape: [2, 2] });
    expect(Array.from(y)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  test('shape option equal to the nesting is accepted', () => {
    const y = softmax(
      [
        [0, 0],
        [1, 1],
      ],
      { shape: [2, 2] },
    );
    expect(Array.from(y)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  test('empty nestings', () => {
    expect(relu([])).toHaveLength(0);
    expect(relu([[]])).toHaveLength(0);
    expect(softmax([[], []])).toHaveLength(0);
    expect(l2Loss([[]])).toBe(0);
  });

  test('three levels deep', () => {
    const y = softmax([
      [
        [1, 1],
        [2, 2],
      ],
      [
        [3, 3],
        [4, 4],
      ],
    ]);
    expect(Array.from(y)).toEqual(Array(8).fill(0.5));
  });

  test('nested labels with flat logits', () => {
    const loss = softmaxCrossEntropyWithLogits({
      labels: [
        [1, 0, 0],
        [0, 1, 0],
      ],
      logits: new Float32Array([2, 1, 0.1, 2, 1, 0.1]),
      shape: [2, 3],
    });
    expect(loss[0]).toBeCloseTo(0.41703001, 6);
    expect(loss[1]).toBeCloseTo(1.41703, 5);
  });

  test('flat labels take the logits shape', () => {
    const loss = softmaxCrossEntropyWithLogits({
      labels: new Float32Array([1, 0, 0, 0, 1, 0]),
      logits: [
        [2, 1, 0.1],
        [2, 1, 0.1],
      ],
    });
    expect(loss).toHaveLength(2);
    expect(loss[1]).toBeCloseTo(1.41703, 5);
  });

  test('sigmoid cross-entropy of a nested and a flat input', () => {
    const y = sigmoidCrossEntropyWithLogits({ labels: [[1, 0]], logits: new Float32Array([0.8, -1.2]) });
    expect(y[0]).toBeCloseTo(0.37110066, 6);
  });

  test('self-containing array rejected', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(() => relu(cyclic as never)).toThrow(TypeError);
  });
});
