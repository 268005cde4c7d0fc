// The facade reads a Float32Array's length once and checks for detached and out-of-bounds views only when that
// length is 0. The binding checks whether a buffer is shared only for calls on the thread pool and for empty views.
// These tests cover the cases where those shortcuts depend on a later check.
import { describe, expect, test } from 'vitest';

import * as nn from '../lib/index';

// The ES2022 typings in use declare neither resizable ArrayBuffers nor growable SharedArrayBuffers.
type ResizableArrayBuffer = ArrayBuffer & { resize(byteLength: number): void };
const ResizableArrayBufferOf = ArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;
type GrowableSharedArrayBuffer = SharedArrayBuffer & { grow(byteLength: number): void };
const GrowableSharedArrayBufferOf = SharedArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => GrowableSharedArrayBuffer;

function thrownBy(call: () => unknown): Error & { code?: string } {
  try {
    call();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('The call returned, but an error was expected.');
}

describe('views that change after the facade reads their length', () => {
  test('length-tracking view after a shrink', () => {
    const buffer = new ResizableArrayBufferOf(16, { maxByteLength: 64 });
    const x = new Float32Array(buffer);
    x.set([-1, 2, -3, 4]);
    buffer.resize(8);

    expect(Array.from(nn.relu(x))).toEqual([0, 2]);
  });

  test('input detached by an options getter', () => {
    const x = new Float32Array([-1, 2]);
    const options = {
      get out() {
        structuredClone(x.buffer, { transfer: [x.buffer] });
        return undefined;
      },
    };

    const error = thrownBy(() => nn.relu(x, options));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toBe(
      'The "x" argument is a view of a detached ArrayBuffer. Pass an array whose buffer has not been transferred.',
    );
  });

  test('input shrunk by a shape getter', () => {
    const buffer = new ResizableArrayBufferOf(16, { maxByteLength: 64 });
    const logits = new Float32Array(buffer);
    logits.set([1, 2, 3, 4]);
    const out = new Float32Array(4).fill(7);
    const shape = [2, 2];
    Object.defineProperty(shape, 1, {
      get() {
        buffer.resize(8);
        return 2;
      },
    });

    const error = thrownBy(() => nn.softmax(logits, { shape, out }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toBe(
      'The layout of the "logits" argument (rows 2, classes 2, inner 1) does not match its length 2.',
    );
    expect(Array.from(out)).toEqual([7, 7, 7, 7]);
  });
});

describe('shared memory on the thread pool', () => {
  // A growable SharedArrayBuffer can grow while the work runs. The binding must see that `out` is shared and write
  // it in place, because a private copy would be discarded when the view's length changed.
  test('growable shared out grown during the call', async () => {
    const buffer = new GrowableSharedArrayBufferOf(8, { maxByteLength: 64 });
    const out = new Float32Array(buffer);
    const pending = nn.promises.relu(new Float32Array([-1, 2]), { out });
    buffer.grow(16);

    await expect(pending).resolves.toBe(out);
    expect(Array.from(out)).toEqual([0, 2, 0, 0]);
  });

  test('non-empty shared view in a synchronous call', () => {
    const x = new Float32Array(new SharedArrayBuffer(16));
    x.set([-1, 2, -3, 4]);

    expect(nn.relu(x, { out: x })).toBe(x);
    expect(Array.from(x)).toEqual([0, 2, 0, 4]);
  });
});
