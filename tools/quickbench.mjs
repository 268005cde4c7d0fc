// Quick single-thread timing of the kernels against the copy floor, for kernel development. The official
// benchmark is `npm run bench`.
//
// Usage: node tools/quickbench.mjs [isa ...]   (default: every set this CPU supports except scalar)
//
// For each size (64Ki, 1Mi and 16Mi elements) and kernel, it alternates one timed call of the kernel with
// one timed Float32Array.prototype.set of the same length, the copy floor. It reports the medians as ns per
// element and the ratio of kernel to copy time. Row kernels use 1000 classes, and 10 for the short-row path.
// Outputs are caller-supplied and reused, so no allocation is timed. Each timed call repeats the operation
// until it takes about 2 ms.
//
// SIMD_NN_ADDON=path/to/simd_nn.node times another build of the addon (default: build/Release).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const binding = require(
  process.env.SIMD_NN_ADDON || join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'simd_nn.node'),
);

const SIZES = [1 << 16, 1 << 20, 1 << 24];
const CLASSES = 1000;
const SHORT_CLASSES = 10;
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
  const y = new Float32Array(size);
  const copy = new Float32Array(size);

  // Views of x and y cut to whole rows of `classes`, one-hot labels and a loss array for them.
  const rowsOf = (classes) => {
    const rows = Math.floor(size / classes);
    const elements = rows * classes;
    const labels = fill(new Float32Array(elements), (i) => (i % classes === (Math.floor(i / classes) * 7) % classes ? 1 : 0));
    return { classes, rows, elements, x: x.subarray(0, elements), y: y.subarray(0, elements), labels, loss: new Float32Array(rows) };
  };
  const softmax = (r) => () => binding.softmax(r.x, r.y, r.rows, r.classes, 1);
  const crossEntropy = (r, backprop) => () =>
    binding.softmaxCrossEntropy(r.labels, r.x, r.loss, backprop ? r.y : null, r.rows, r.classes, 1, r.rows, r.classes, 1, 1);
  const long = rowsOf(CLASSES);
  const short = rowsOf(SHORT_CLASSES);

  const kernels = [
    ['relu', () => binding.relu(x, y), size],
    ['sigmoid', () => binding.sigmoid(x, y), size],
    ['tanh', () => binding.tanh(x, y), size],
    [`softmax (${CLASSES} classes)`, softmax(long), long.elements],
    [`xent loss (${CLASSES} classes)`, crossEntropy(long, false), long.elements],
    ['xent loss+backprop', crossEntropy(long, true), long.elements],
    [`softmax (${SHORT_CLASSES} classes)`, softmax(short), short.elements],
    [`xent loss (${SHORT_CLASSES} classes)`, crossEntropy(short, false), short.elements],
    ['l2', () => binding.l2Loss(x), size],
  ];

  for (const isa of isas) {
    if (!binding.testingSetIsa(isa)) {
      console.error(`The ${isa} kernel set is not available on this CPU; skipped.`);
      continue;
    }
    for (const [name, kernel, elements] of kernels) {
      const source = x.subarray(0, elements);
      const copyFloor = () => copy.set(source);
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
