import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { expect, test } from 'vitest';

import { softmax } from '../lib/index';

const packageEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

// Each worker loads the package itself, computes softmax over its own rows many times, and posts the result.
const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  import(workerData.entry).then((nn) => {
    const { rows, classes, seed, repeats } = workerData;
    const x = new Float32Array(rows * classes);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(seed + i) * 5;
    const out = new Float32Array(x.length);
    for (let k = 0; k < repeats; k++) nn.softmax(x, { shape: [rows, classes], out });
    parentPort.postMessage({ x, out, isa: nn.info().isa });
  });
`;

function runWorker(seed: number): Promise<{ x: Float32Array; out: Float32Array; isa: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { entry: packageEntry, rows: 200, classes: 100, seed, repeats: 200 },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

test('two workers load and compute at once', async () => {
  const [first, second] = await Promise.all([runWorker(1), runWorker(2)]);
  for (const result of [first, second]) {
    expect(Array.from(result.out)).toEqual(Array.from(softmax(result.x, { shape: [200, 100] })));
  }
  expect(first.isa).toBe(second.isa);
});

test('worker terminated mid-computation leaves the process healthy', async () => {
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: { entry: packageEntry, rows: 1000, classes: 1000, seed: 3, repeats: 1000 },
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await worker.terminate();
  expect(Array.from(softmax([0, 0]))).toEqual([0.5, 0.5]);
});
