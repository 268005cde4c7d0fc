import { describe, expect, test } from 'vitest';

import { binding } from '../lib/binding';
import {
  l2Loss,
  leakyRelu,
  logSigmoid,
  relu,
  relu6,
  sigmoid,
  sigmoidCrossEntropyWithLogits,
  softmax,
  softmaxCrossEntropyWithLogits,
  softplus,
  silu,
  softsign,
  tanh,
} from '../lib/index';

type ErrorClass = typeof TypeError | typeof RangeError;

interface ErrorCase {
  name: string;
  call: () => unknown;
  type: ErrorClass;
  code: string;
  message: string;
}

const f32 = (length: number, fill = 1) => new Float32Array(length).fill(fill);

function detached(length: number): Float32Array {
  const view = new Float32Array(length);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

// A view whose resizable ArrayBuffer shrank below its end: its length reads 0, and any read of it throws.
// The ES2022 typings in use declare neither maxByteLength nor resize.
type ResizableArrayBuffer = ArrayBuffer & { resize(byteLength: number): void };
const ResizableArrayBufferOf = ArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;

function pastResizedEnd(): Float32Array {
  const buffer = new ResizableArrayBufferOf(16, { maxByteLength: 64 });
  const view = new Float32Array(buffer, 8, 2);
  buffer.resize(4);
  return view;
}

const CASES: ErrorCase[] = [
  // Wrong types.
  {
    name: 'relu of a string',
    call: () => relu('1,2' as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: `The "x" argument must be an instance of Float32Array or an array of numbers. Received type string ('1,2')`,
  },
  {
    name: 'sigmoid of an Int32Array',
    call: () => sigmoid(new Int32Array(3) as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message:
      'The "x" argument must be an instance of Float32Array or an array of numbers. Received an instance of Int32Array',
  },
  {
    name: 'tanh of a Float64Array',
    call: () => tanh(new Float64Array(3) as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message:
      'The "x" argument must be an instance of Float32Array or an array of numbers. Received an instance of Float64Array',
  },
  {
    name: 'relu of a Proxy',
    call: () => relu(new Proxy(new Float32Array(2), {})),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "x" argument must be an instance of Float32Array or an array of numbers. Received a Proxy',
  },
  {
    name: 'relu of undefined',
    call: () => relu(undefined as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "x" argument must be an instance of Float32Array or an array of numbers. Received undefined',
  },
  {
    name: 'nested array with a string element',
    call: () => relu([[1, 'a']] as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: `The "x[0][1]" argument must be of type number. Received type string ('a')`,
  },
  {
    name: 'out of the wrong type',
    call: () => relu(f32(3), { out: new Float64Array(3) as never }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "out" argument must be an instance of Float32Array. Received an instance of Float64Array',
  },
  {
    name: 'options of the wrong type',
    call: () => softmax(f32(3), 5 as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "options" argument must be an object. Received type number (5)',
  },
  {
    name: 'axis of the wrong type',
    call: () => softmax(f32(3), { axis: '0' as never }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: `The "axis" argument must be of type number. Received type string ('0')`,
  },
  {
    name: 'shape of the wrong type',
    call: () => softmax(f32(6), { shape: '2,3' as never }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: `The "shape" argument must be an array of non-negative integers. Received type string ('2,3')`,
  },
  {
    name: 'cross-entropy without an object',
    call: () => softmaxCrossEntropyWithLogits(undefined as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "args" argument must be an object. Received undefined',
  },
  {
    name: 'cross-entropy labels missing',
    call: () => softmaxCrossEntropyWithLogits({ logits: f32(3) } as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "labels" argument must be an instance of Float32Array or an array of numbers. Received undefined',
  },
  {
    name: 'backprop of the wrong type',
    call: () => softmaxCrossEntropyWithLogits({ labels: f32(3), logits: f32(3), backprop: [0, 0, 0] as never }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "backprop" argument must be an instance of Float32Array. Received an instance of Array',
  },
  {
    name: 'l2Loss of null',
    call: () => l2Loss(null as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "t" argument must be an instance of Float32Array or an array of numbers. Received null',
  },

  // Invalid values: lengths, shapes, overlap, detached buffers.
  {
    name: 'out of the wrong length',
    call: () => sigmoid(f32(5), { out: f32(4) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "out" argument must be a Float32Array of length 5 (the length of "x"). Received length 4',
  },
  {
    name: 'ragged nesting',
    call: () => relu([[1, 2], [3]]),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "x" argument must be a rectangular nested array. Received x[1], of length 1, where length 2 was expected',
  },
  {
    name: 'ragged nesting with a number for an array',
    call: () => relu([[1, 2], 3] as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "x" argument must be a rectangular nested array. Received x[1], not an array, where an array of length 2 was expected',
  },
  {
    name: 'shape product differs from the length',
    call: () => softmax(f32(6), { shape: [4, 2] }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "shape" argument must be a shape whose product is the length of "logits", 6. Received [4,2], whose product is 8',
  },
  {
    name: 'shape contradicting the nesting',
    call: () => softmax([[1, 2, 3], [4, 5, 6]], { shape: [3, 2] }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "shape" argument must be equal to the shape of the nested "logits" array, [2,3]. Received [3,2]',
  },
  {
    name: 'softmax of a rank-0 shape',
    call: () => softmax(f32(1), { shape: [] }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "shape" argument must be a shape with at least one dimension. Received []',
  },
  {
    name: 'shapes that do not broadcast',
    call: () => softmaxCrossEntropyWithLogits({ labels: f32(8), labelsShape: [4, 2], logits: f32(6), shape: [2, 3] }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "labels" argument must be a shape that matches or broadcasts against "logits" (seen as rows x classes, ' +
      'each dimension equal or 1 on one side). Received labels [4,2] (4 x 2) and logits [2,3] (2 x 3)',
  },
  {
    name: 'labels of another length without a shape',
    call: () => softmaxCrossEntropyWithLogits({ labels: f32(4), logits: f32(6), shape: [2, 3] }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "shape" argument must be a shape whose product is the length of "labels", 4. Received [2,3], whose product is 6',
  },
  {
    name: 'backprop of the wrong length',
    call: () =>
      softmaxCrossEntropyWithLogits({ labels: f32(6), logits: f32(6), shape: [2, 3], backprop: f32(5) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "backprop" argument must be a Float32Array of length 6 (2 rows x 3 classes). Received length 5',
  },
  {
    name: 'loss out of the wrong length',
    call: () => softmaxCrossEntropyWithLogits({ labels: f32(6), logits: f32(6), shape: [2, 3], out: f32(3) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "out" argument must be a Float32Array of length 2 (one loss per row). Received length 3',
  },
  {
    name: 'sigmoid cross-entropy shapes differ',
    call: () => sigmoidCrossEntropyWithLogits({ labels: f32(3), logits: f32(4) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "labels" argument must be a tensor of the same shape as "logits", [4]. Received shape [3]',
  },
  {
    name: 'out overlapping the input',
    call: () => {
      const buffer = f32(10);
      return relu(buffer.subarray(0, 6), { out: buffer.subarray(2, 8) });
    },
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "out" argument overlaps the "x" argument in memory. Pass the same array to compute in place, or arrays that do not overlap.',
  },
  {
    name: 'out as another view of the input buffer',
    call: () => {
      const buffer = f32(10);
      return softmax(buffer.subarray(0, 6), { out: new Float32Array(buffer.buffer, 4, 6) });
    },
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "out" argument overlaps the "logits" argument in memory. Pass the same array to compute in place, or arrays that do not overlap.',
  },
  {
    name: 'loss out overlapping the logits',
    call: () => {
      const logits = f32(6);
      return softmaxCrossEntropyWithLogits({ labels: f32(6), logits, shape: [2, 3], out: logits.subarray(0, 2) });
    },
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "out" argument overlaps the "logits" argument in memory. Pass arrays that do not overlap.',
  },
  {
    name: 'backprop exactly the labels',
    call: () => {
      const labels = f32(6);
      return softmaxCrossEntropyWithLogits({ labels, logits: f32(6), shape: [2, 3], backprop: labels });
    },
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "backprop" argument overlaps the "labels" argument in memory. Pass arrays that do not overlap.',
  },
  {
    name: 'backprop on broadcast logits',
    call: () => {
      const buffer = f32(12);
      const logits = buffer.subarray(0, 3);
      return softmaxCrossEntropyWithLogits({
        labels: f32(12),
        labelsShape: [4, 3],
        logits,
        shape: [1, 3],
        backprop: buffer,
      });
    },
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "backprop" argument overlaps the "logits" argument in memory. Pass arrays that do not overlap.',
  },
  {
    name: 'detached input',
    call: () => sigmoid(detached(4)),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "x" argument must be a Float32Array whose ArrayBuffer is not detached. Received a view of a detached ArrayBuffer',
  },
  {
    name: 'detached out',
    call: () => sigmoid(f32(0), { out: detached(4) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "out" argument must be a Float32Array whose ArrayBuffer is not detached. Received a view of a detached ArrayBuffer',
  },
  {
    name: 'detached logits in a cross-entropy',
    call: () => softmaxCrossEntropyWithLogits({ labels: f32(0), logits: detached(3) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "logits" argument must be a Float32Array whose ArrayBuffer is not detached. Received a view of a detached ArrayBuffer',
  },
  {
    name: 'input past resized buffer end',
    call: () => sigmoid(pastResizedEnd()),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "x" argument must be a Float32Array within the bounds of its ArrayBuffer. ' +
      'Received a view that ends past its resized ArrayBuffer',
  },
  {
    name: 'out past resized buffer end',
    call: () => relu([], { out: pastResizedEnd() }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "out" argument must be a Float32Array within the bounds of its ArrayBuffer. ' +
      'Received a view that ends past its resized ArrayBuffer',
  },
  {
    name: 'detached input to l2Loss',
    call: () => l2Loss(detached(2)),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "t" argument must be a Float32Array whose ArrayBuffer is not detached. Received a view of a detached ArrayBuffer',
  },

  // Out of range.
  {
    name: 'axis beyond the rank',
    call: () => softmax(f32(6), { shape: [2, 3], axis: 3 }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "axis" argument must be an integer in [-2, 1]. Received 3',
  },
  {
    name: 'axis below minus the rank',
    call: () => softmax(f32(6), { shape: [2, 3], axis: -3 }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "axis" argument must be an integer in [-2, 1]. Received -3',
  },
  {
    name: 'non-integer axis',
    call: () => softmax(f32(6), { shape: [2, 3], axis: 0.5 }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "axis" argument must be an integer in [-2, 1]. Received 0.5',
  },
  {
    name: 'negative dimension',
    call: () => softmax(f32(6), { shape: [-2, -3] }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "shape[0]" argument must be a non-negative integer no greater than 2^53 - 1. Received -2',
  },
  {
    name: 'non-integer dimension',
    call: () => softmax(f32(6), { shape: [2, 3.5] }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "shape[1]" argument must be a non-negative integer no greater than 2^53 - 1. Received 3.5',
  },
  {
    name: 'axis beyond the rank of lower-rank labels',
    call: () =>
      softmaxCrossEntropyWithLogits({ labels: f32(2), labelsShape: [2], logits: f32(4), shape: [2, 2], axis: 1 }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "axis" argument must be an integer in [-1, 0] for "labels" [2]. Received 1',
  },
  {
    name: 'dimension beyond 2^53 - 1',
    call: () => softmax(f32(0), { shape: [0, 2 ** 53] }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "shape[1]" argument must be a non-negative integer no greater than 2^53 - 1. Received 9007199254740992',
  },
  {
    name: 'nested array too large to copy',
    call: () => {
      const row = new Array(2 ** 20).fill(0);
      const plane = new Array(2 ** 20).fill(row);
      return relu(new Array(2 ** 20).fill(plane));
    },
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message:
      'The "x" argument must be a nested array small enough to copy into a Float32Array. ' +
      'Received shape [1048576,1048576,1048576]',
  },
  {
    name: 'relu6 of a string',
    call: () => relu6('6' as never),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: `The "x" argument must be an instance of Float32Array or an array of numbers. Received type string ('6')`,
  },
  {
    name: 'softplus with out of the wrong length',
    call: () => softplus(f32(3), { out: f32(2) }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'The "out" argument must be a Float32Array of length 3 (the length of "x"). Received length 2',
  },
  {
    name: 'logSigmoid with out overlapping the input',
    call: () => {
      const buffer = f32(4);
      return logSigmoid(buffer.subarray(0, 3), { out: buffer.subarray(1, 4) });
    },
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "out" argument overlaps the "x" argument in memory. Pass the same array to compute in place, or arrays that do not overlap.',
  },
  {
    name: 'softsign of a detached input',
    call: () => softsign(detached(3)),
    type: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
    message:
      'The "x" argument must be a Float32Array whose ArrayBuffer is not detached. Received a view of a detached ArrayBuffer',
  },
  {
    name: 'leakyRelu alpha of the wrong type',
    call: () => leakyRelu(f32(3), { alpha: '0.2' as never }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: `The "alpha" argument must be of type number. Received type string ('0.2')`,
  },
  {
    name: 'leakyRelu alpha NaN',
    call: () => leakyRelu(f32(3), { alpha: NaN }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "alpha" argument must be a finite number in float32 range. Received NaN',
  },
  {
    name: 'leakyRelu alpha beyond float32',
    call: () => leakyRelu(f32(3), { alpha: 1e39 }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "alpha" argument must be a finite number in float32 range. Received 1e+39',
  },
  {
    name: 'silu beta of the wrong type',
    call: () => silu(f32(3), { beta: null as never }),
    type: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "beta" argument must be of type number. Received null',
  },
  {
    name: 'silu beta infinite',
    call: () => silu(f32(3), { beta: -Infinity }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: 'The "beta" argument must be a finite number in float32 range. Received -Infinity',
  },
  {
    name: 'cross-entropy over zero classes',
    call: () => softmaxCrossEntropyWithLogits({ labels: f32(0), logits: f32(0), shape: [4, 0] }),
    type: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message:
      'The "logits" argument must be a tensor with at least 1 class along the class axis. ' +
      'Received labels [4,0] (4 x 0) and logits [4,0] (4 x 0)',
  },
];

describe('argument errors', () => {
  test.each(CASES)('$name', ({ call, type, code, message }) => {
    let thrown: unknown;
    try {
      call();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(type);
    expect((thrown as { code?: string }).code).toBe(code);
    expect((thrown as Error).message).toBe(message);
  });
});

describe('empty tensors with huge dimensions', () => {
  test('softmax returns an empty result', () => {
    expect(softmax(f32(0), { shape: [0, 2 ** 30, 2 ** 30], axis: 0 })).toHaveLength(0);
    expect(softmax(f32(0), { shape: [2 ** 30, 2 ** 30, 0] })).toHaveLength(0);
  });

  test('cross-entropy returns an empty result', () => {
    const loss = softmaxCrossEntropyWithLogits({
      labels: f32(0),
      logits: f32(0),
      shape: [0, 5, 2 ** 30, 2 ** 30],
      axis: 1,
      backprop: f32(0),
    });
    expect(loss).toHaveLength(0);
  });

  test('broadcast labels against empty logits', () => {
    const loss = softmaxCrossEntropyWithLogits({ labels: f32(5), labelsShape: [1, 5], logits: f32(0), shape: [0, 5] });
    expect(loss).toHaveLength(0);
  });
});

describe('nothing written on error', () => {
  test('out untouched when a later check fails', () => {
    const out = f32(6, 42);
    expect(() => softmax(f32(6), { shape: [2, 3], axis: 5, out })).toThrow(RangeError);
    expect(Array.from(out)).toEqual(Array(6).fill(42));
  });

  test('loss and backprop untouched on overlap', () => {
    const loss = f32(2, 42);
    const labels = f32(6);
    expect(() =>
      softmaxCrossEntropyWithLogits({ labels, logits: f32(6), shape: [2, 3], out: loss, backprop: labels }),
    ).toThrow(TypeError);
    expect(Array.from(loss)).toEqual([42, 42]);
    expect(Array.from(labels)).toEqual(Array(6).fill(1));
  });

  test('in-place input untouched when out has the wrong length', () => {
    const x = f32(4, -3);
    expect(() => relu(x, { out: f32(3) })).toThrow(TypeError);
    expect(Array.from(x)).toEqual([-3, -3, -3, -3]);
  });
});

describe('arrays with redefined properties', () => {
  // The binding uses a view's real element count, so the facade must not trust a redefined `length`.
  class ShortLength extends Float32Array {
    override get length(): number {
      return 1;
    }
  }

  test('redefined length: real count used', () => {
    const x = new ShortLength([-1, 2, -3]);
    expect(Array.from(relu(x))).toEqual([0, 2, 0]);
    expect(Array.from(softmax(x, { shape: [3], out: f32(3) }))).toHaveLength(3);
  });

  test('redefined length: out checked by real count', () => {
    let thrown: unknown;
    try {
      sigmoid(f32(3), { out: new ShortLength(2) });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
    expect((thrown as Error).message).toBe(
      'The "out" argument must be a Float32Array of length 3 (the length of "x"). Received length 2',
    );
  });

  test('prototype replaced by Array.prototype', () => {
    const x = new Float32Array([-1, 2]);
    Object.setPrototypeOf(x, Array.prototype);
    expect(Array.from(relu(x as never))).toEqual([0, 2]);
  });

  test('cross-entropy reads each option once', () => {
    const reads = new Map<string, number>();
    const values: Record<string, unknown> = {
      labels: f32(6, 0),
      logits: f32(6),
      shape: [2, 3],
      labelsShape: [2, 3],
      axis: -1,
      out: f32(2),
      backprop: f32(6),
    };
    const args = {};
    for (const [key, value] of Object.entries(values)) {
      Object.defineProperty(args, key, {
        enumerable: true,
        get: () => {
          reads.set(key, (reads.get(key) ?? 0) + 1);
          return value;
        },
      });
    }
    softmaxCrossEntropyWithLogits(args as never);
    expect(Object.fromEntries(reads)).toEqual(Object.fromEntries(Object.keys(values).map((key) => [key, 1])));
  });
});

describe('binding re-checks', () => {
  // Any JavaScript can call the binding directly; it must throw, never crash or write out of bounds.
  const cases: { name: string; call: () => unknown; code: string }[] = [
    { name: 'non-array input', call: () => binding.relu({} as never, f32(1)), code: 'ERR_INVALID_ARG_TYPE' },
    { name: 'short out', call: () => binding.sigmoid(f32(8), f32(4)), code: 'ERR_INVALID_ARG_VALUE' },
    {
      name: 'layout larger than the data',
      call: () => binding.softmax(f32(6), f32(6), 3, 3, 1),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    {
      name: 'inner that does not divide rows',
      call: () => binding.softmax(f32(6), f32(6), 3, 2, 2),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    { name: 'negative rows', call: () => binding.softmax(f32(6), f32(6), -2, -3, 1), code: 'ERR_OUT_OF_RANGE' },
    { name: 'NaN classes', call: () => binding.softmax(f32(6), f32(6), 2, NaN, 1), code: 'ERR_OUT_OF_RANGE' },
    {
      name: 'huge sizes that overflow',
      call: () => binding.softmax(f32(6), f32(6), 2 ** 52, 2 ** 52, 1),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    {
      name: 'cross-entropy short loss',
      call: () => binding.softmaxCrossEntropy(f32(6), f32(6), f32(1), null, 2, 3, 1, 2, 3, 1, 1),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    {
      name: 'cross-entropy short backprop',
      call: () => binding.softmaxCrossEntropy(f32(6), f32(6), f32(2), f32(5), 2, 3, 1, 2, 3, 1, 1),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    {
      name: 'cross-entropy rows that do not broadcast',
      call: () => binding.softmaxCrossEntropy(f32(6), f32(9), f32(3), null, 2, 3, 1, 3, 3, 1, 1),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    {
      name: 'cross-entropy zero classes',
      call: () => binding.softmaxCrossEntropy(f32(0), f32(0), f32(2), null, 2, 0, 1, 2, 0, 1, 1),
      code: 'ERR_OUT_OF_RANGE',
    },
    {
      name: 'sigmoid cross-entropy short logits',
      call: () => binding.sigmoidCrossEntropy(f32(4), f32(3), f32(4)),
      code: 'ERR_INVALID_ARG_VALUE',
    },
    { name: 'detached input', call: () => binding.tanh(detached(3), f32(0)), code: 'ERR_INVALID_ARG_VALUE' },
    { name: 'l2Loss of a number', call: () => binding.l2Loss(3 as never), code: 'ERR_INVALID_ARG_TYPE' },
    // 4 bytes that would be read as 4 floats.
    {
      name: 'Uint8Array input',
      call: () => binding.relu(new Uint8Array(4) as never, f32(4)),
      code: 'ERR_INVALID_ARG_TYPE',
    },
    {
      name: 'DataView out',
      call: () => binding.relu(f32(4), new DataView(new ArrayBuffer(16)) as never),
      code: 'ERR_INVALID_ARG_TYPE',
    },
    {
      name: 'leakyRelu alpha missing',
      call: () => binding.leakyRelu(f32(2), f32(2), undefined as never),
      code: 'ERR_INVALID_ARG_TYPE',
    },
    {
      name: 'leakyRelu alpha infinite',
      call: () => binding.leakyRelu(f32(2), f32(2), -Infinity),
      code: 'ERR_OUT_OF_RANGE',
    },
    {
      name: 'leakyRelu alpha beyond float32',
      call: () => binding.leakyRelu(f32(2), f32(2), 4e38),
      code: 'ERR_OUT_OF_RANGE',
    },
    { name: 'silu beta NaN', call: () => binding.silu(f32(2), f32(2), NaN), code: 'ERR_OUT_OF_RANGE' },
    {
      name: 'silu beta a string',
      call: () => binding.silu(f32(2), f32(2), '1' as never),
      code: 'ERR_INVALID_ARG_TYPE',
    },
    { name: 'relu6 short out', call: () => binding.relu6(f32(8), f32(7)), code: 'ERR_INVALID_ARG_VALUE' },
    {
      name: 'softsign of a Float64Array',
      call: () => binding.softsign(new Float64Array(2) as never, f32(2)),
      code: 'ERR_INVALID_ARG_TYPE',
    },
    {
      name: 'cross-entropy backprop of a number',
      call: () => binding.softmaxCrossEntropy(f32(6), f32(6), f32(2), 7 as never, 2, 3, 1, 2, 3, 1, 1),
      code: 'ERR_INVALID_ARG_TYPE',
    },
  ];

  test.each(cases)('$name', ({ call, code }) => {
    let thrown: unknown;
    try {
      call();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError);
    expect((thrown as { code?: string }).code).toBe(code);
  });

  test('parameter messages name the value', () => {
    expect(() => binding.leakyRelu(f32(1), f32(1), NaN)).toThrow(
      'The "alpha" argument must be a finite number in float32 range. Received NaN',
    );
    expect(() => binding.silu(f32(1), f32(1), 1e39)).toThrow(
      'The "beta" argument must be a finite number in float32 range. Received 1e+39',
    );
    expect(() => binding.silu(f32(1), f32(1), '1' as never)).toThrow(
      'The "beta" argument must be of type number. Received type string',
    );
  });

  test('undefined backprop means none, and an empty view of a SharedArrayBuffer is accepted', () => {
    const loss = f32(2);
    binding.softmaxCrossEntropy(f32(6), f32(6), loss, undefined as never, 2, 3, 1, 2, 3, 1, 1);
    // Three labels of 1 on three equal logits: 3 ln 3 per row.
    expect(loss[0]).toBeCloseTo(3 * Math.log(3), 6);
    expect(loss[1]).toBe(loss[0]);
    const empty = new Float32Array(new SharedArrayBuffer(0));
    expect(() => binding.tanh(empty, empty)).not.toThrow();
  });
});
