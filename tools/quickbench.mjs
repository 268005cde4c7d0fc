// Quick single-thread timing of the kernels against the copy floor, for kernel development. The official
// benchmark is `npm run bench`.
//
// Usage: node tools/quickbench.mjs [isa ...]   (default: every set this CPU supports except scalar)
//
// For each size (64Ki, 1Mi and 16Mi elements) and kernel, it alternates one timed call of the kernel with
// one timed Float32Array.prototype.set of the same length, the copy floor. It reports the medians as ns per
// element and the ratio of kernel to copy time. Row kernels use 1000 classes. Outputs are caller-supplied and
// reused, so no allocation is timed. Each timed call repeats the operation until it takes about 2 ms.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const binding = require(join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'simd_nn.node'));

const SIZES = [1 << 16, 1 << 20, 1 << 24];
const CLASSES = 1000;
const TRIALS = 31;
const TARGET_NS = 2e6;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

// Returns the time of one call of `fn` in ns, averaged over enough repetitions to last about TARGET_NS.
function timeCall(fn, repetitions) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < repetitions; i += 1) fn();
  return Number(process.hrtime.bigint() - start) / repetitions;
}

function calibrate(fn) {
  fn();
  const once = timeCall(fn, 1);
  return Math.max(1, Math.round(TARGET_NS / Math.max(once, 1)));
}

function fill(array, generate) {
  for (let i = 0; i < array.length; i += 1) array[i] = generate(i);
  return array;
}

const isas = process.argv.length > 2 ? process.argv.slice(2) : binding.info().available.filter((isa) => isa !== 'scalar');
let seed = 1;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

console.log(`| isa | kernel | elements | ns/element | copy ns/element | ratio |`);
console.log(`|---|---|---|---|---|---|`);
for (const size of SIZES) {
  const x = fill(new Float32Array(size), () => random() * 10 - 5);
  const labels = fill(new Float32Array(size), (i) => (i % CLASSES === (Math.floor(i / CLASSES) * 7) % CLASSES ? 1 : 0));
  const y = new Float32Array(size);
  const copy = new Float32Array(size);
  const rows = Math.floor(size / CLASSES);
  const rowElements = rows * CLASSES;
  const xRows = x.subarray(0, rowElements);
  const labelRows = labels.subarray(0, rowElements);
  const yRows = y.subarray(0, rowElements);
  const loss = new Float32Array(rows);

  const kernels = [
    ['relu', () => binding.relu(x, y), size],
    ['sigmoid', () => binding.sigmoid(x, y), size],
    ['tanh', () => binding.tanh(x, y), size],
    ['softmax (1000 classes)', () => binding.softmax(xRows, yRows, rows, CLASSES, 1), rowElements],
    ['xent loss (1000 classes)', () => binding.softmaxCrossEntropy(labelRows, xRows, loss, null, rows, CLASSES, 1, rows, CLASSES, 1, 1), rowElements],
    ['xent loss+backprop', () => binding.softmaxCrossEntropy(labelRows, xRows, loss, yRows, rows, CLASSES, 1, rows, CLASSES, 1, 1), rowElements],
    ['l2', () => binding.l2Loss(x), size],
  ];

  for (const isa of isas) {
    if (!binding.testingSetIsa(isa)) {
      console.error(`The ${isa} kernel set is not available on this CPU; skipped.`);
      continue;
    }
    for (const [name, kernel, elements] of kernels) {
      const copyFloor = () => copy.set(elements === size ? x : xRows);
      const kernelRepetitions = calibrate(kernel);
      const copyRepetitions = calibrate(copyFloor);
      const kernelTimes = [];
      const copyTimes = [];
      for (let trial = 0; trial < TRIALS; trial += 1) {
        kernelTimes.push(timeCall(kernel, kernelRepetitions) / elements);
        copyTimes.push(timeCall(copyFloor, copyRepetitions) / elements);
      }
      const kernelNs = median(kernelTimes);
      const copyNs = median(copyTimes);
      console.log(`| ${isa} | ${name} | ${elements} | ${kernelNs.toFixed(4)} | ${copyNs.toFixed(4)} | ${(kernelNs / copyNs).toFixed(2)} |`);
    }
  }
}
