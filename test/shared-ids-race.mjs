// Run by test/sparse-shared-ids.test.ts in a fresh process, whose thread pool nothing else uses. Changes class
// ids in shared memory after the binding checked them and before the kernel runs, and prints what the call
// wrote as JSON.
//
// Usage: node test/shared-ids-race.mjs path/to/dist/index.js
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const nn = await import(pathToFileURL(process.argv[2]).href);

const THREAD_POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
const GUARD_LENGTH = 16;
const GUARD_VALUE = 1234.5;
const ROWS = 64;
const CLASSES = 5;

// Returns a Float32Array of `length` in a SharedArrayBuffer, between two guard regions of GUARD_VALUE.
function guardedShared(length) {
  const withGuards = new Float32Array(new SharedArrayBuffer((length + 2 * GUARD_LENGTH) * 4)).fill(GUARD_VALUE);
  return { view: new Float32Array(withGuards.buffer, GUARD_LENGTH * 4, length), withGuards };
}

function guardsKept({ withGuards }) {
  const head = withGuards.subarray(0, GUARD_LENGTH);
  const tail = withGuards.subarray(withGuards.length - GUARD_LENGTH);
  return [...head, ...tail].every((value) => value === GUARD_VALUE);
}

// Filled in place: map() would return a copy in an ordinary ArrayBuffer.
const ids = new Int32Array(new SharedArrayBuffer(ROWS * 4));
for (let row = 0; row < ROWS; row++) {
  ids[row] = row % CLASSES;
}
const logits = guardedShared(ROWS * CLASSES);
for (let i = 0; i < ROWS * CLASSES; i++) {
  logits.view[i] = Math.sin(i) * 4;
}
const loss = guardedShared(ROWS);
const backprop = guardedShared(ROWS * CLASSES);

// Every thread of the pool opens a FIFO without a writer and waits. The pool takes work in order, so the call
// queued after these opens runs only once they return, after the ids below have changed.
const directory = mkdtempSync(join(tmpdir(), 'simd-nn-fifo-'));
const fifo = join(directory, 'fifo');
execFileSync('mkfifo', [fifo]);
const readers = Array.from({ length: THREAD_POOL_SIZE }, () => open(fifo, 'r'));

const call = nn.promises.sparseSoftmaxCrossEntropyWithLogits({
  labels: ids,
  logits: logits.view,
  shape: [ROWS, CLASSES],
  out: loss.view,
  backprop: backprop.view,
});
const invalid = { 3: -1, 17: CLASSES, 30: 2 ** 31 - 1, 45: -(2 ** 31) };
for (const [row, id] of Object.entries(invalid)) {
  ids[Number(row)] = id;
}
ids[50] = (ids[50] + 1) % CLASSES;

// A writer end that stays open until every reader has returned, so that no open can block after it.
const writer = openSync(fifo, 'r+');
const handles = await Promise.all(readers);
closeSync(writer);
await Promise.all(handles.map((handle) => handle.close()));
await call;
rmSync(directory, { recursive: true, force: true });

// The reference: the dense function on one-hot labels of the final ids, with the invalid rows left at 0.
const oneHot = new Float32Array(ROWS * CLASSES);
ids.forEach((id, row) => {
  if (id >= 0 && id < CLASSES) {
    oneHot[row * CLASSES + id] = 1;
  }
});
const denseBackprop = new Float32Array(ROWS * CLASSES);
const denseLoss = nn.softmaxCrossEntropyWithLogits({
  labels: oneHot,
  logits: logits.view.slice(),
  shape: [ROWS, CLASSES],
  backprop: denseBackprop,
});

const rows = [];
for (let row = 0; row < ROWS; row++) {
  const gradient = backprop.view.subarray(row * CLASSES, (row + 1) * CLASSES);
  const expectedGradient = denseBackprop.subarray(row * CLASSES, (row + 1) * CLASSES);
  rows.push({
    lossIsNaN: Number.isNaN(loss.view[row]),
    gradientIsNaN: gradient.every(Number.isNaN),
    matchesDense:
      Object.is(loss.view[row], denseLoss[row]) && gradient.every((v, j) => Object.is(v, expectedGradient[j])),
  });
}
console.log(
  JSON.stringify({
    invalidRows: Object.keys(invalid).map(Number),
    rows,
    guardsKept: guardsKept(logits) && guardsKept(loss) && guardsKept(backprop),
  }),
);
