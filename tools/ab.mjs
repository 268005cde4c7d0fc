// A/B timing of one kernel in two builds of the addon, for kernel development. The official benchmark is
// `npm run bench`.
//
// Usage: node tools/ab.mjs A.node B.node kernel [elements] [isa] [classes]
//   kernel: relu, sigmoid, tanh, softmax, xent (loss only), xent-backprop, xent-soft, xent-soft-backprop,
//           sigmoid-xent or l2 (the xent kernels take one-hot labels, the xent-soft ones labels in [0, 1))
//   elements: default 65536; isa: default avx512; classes (row kernels): default 1000
//
// Both builds load into one process, and each trial times one call of A, one of B and one copy floor
// (Float32Array.prototype.set) in turn, so that noise from other work on the machine hits all three alike.
// It prints the median ratio of each build to the copy floor, and B's time relative to A's.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

import { median } from '../bench/lib/timing.mjs';

const require = createRequire(import.meta.url);

const TRIALS = 41;
const TARGET_NS = 2e6;

const [pathA, pathB, kernelName, elementsArgument, isaArgument, classesArgument] = process.argv.slice(2);
const CLASSES = Number(classesArgument ?? 1000);
if (!pathA || !pathB || !kernelName) {
  console.error('Usage: node tools/ab.mjs A.node B.node kernel [elements] [isa] [classes]');
  process.exit(2);
}
const isa = isaArgument ?? 'avx512';
const builds = [pathA, pathB].map((path) => {
  const binding = require(resolve(path));
  if (!binding.testingSetIsa(isa)) {
    console.error(`The ${isa} kernel set is not available in ${path} on this CPU.`);
    process.exit(2);
  }
  return binding;
});

const requested = Number(elementsArgument ?? 65536);
const rowKernel = kernelName.startsWith('softmax') || kernelName.startsWith('xent');
const rows = Math.floor(requested / CLASSES);
const elements = rowKernel ? rows * CLASSES : requested;
if (!Number.isSafeInteger(elements) || elements <= 0) {
  console.error(`Invalid element count: ${elementsArgument} (row kernels need at least ${CLASSES}).`);
  process.exit(2);
}

// Seeded logits in [-5, 5) and one-hot labels, as in tools/quickbench.mjs.
let seed = 1;
const x = new Float32Array(elements);
for (let i = 0; i < elements; i += 1) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  x[i] = (seed / 2147483648) * 10 - 5;
}
const labels = new Float32Array(elements);
for (let r = 0; r < rows; r += 1) {
  labels[r * CLASSES + ((r * 7) % CLASSES)] = 1;
}
// Soft labels in [0, 1) for sigmoid cross-entropy and the xent-soft kernels.
const softLabels = new Float32Array(elements);
for (let i = 0; i < elements; i += 1) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  softLabels[i] = seed / 2147483648;
}
const y = new Float32Array(elements);
const loss = new Float32Array(Math.max(rows, 1));
const copy = new Float32Array(elements);

const KERNELS = {
  relu: (binding) => () => binding.relu(x, y),
  sigmoid: (binding) => () => binding.sigmoid(x, y),
  tanh: (binding) => () => binding.tanh(x, y),
  softmax: (binding) => () => binding.softmax(x, y, rows, CLASSES, 1),
  xent: (binding) => () => binding.softmaxCrossEntropy(labels, x, loss, null, rows, CLASSES, 1, rows, CLASSES, 1, 1),
  'xent-backprop': (binding) => () =>
    binding.softmaxCrossEntropy(labels, x, loss, y, rows, CLASSES, 1, rows, CLASSES, 1, 1),
  // Soft labels, as `npm run bench` uses: every label is non-zero.
  'xent-soft': (binding) => () =>
    binding.softmaxCrossEntropy(softLabels, x, loss, null, rows, CLASSES, 1, rows, CLASSES, 1, 1),
  'xent-soft-backprop': (binding) => () =>
    binding.softmaxCrossEntropy(softLabels, x, loss, y, rows, CLASSES, 1, rows, CLASSES, 1, 1),
  'sigmoid-xent': (binding) => () => binding.sigmoidCrossEntropy(softLabels, x, y),
  l2: (binding) => () => binding.l2Loss(x),
};
const makeKernel = KERNELS[kernelName];
if (!makeKernel) {
  console.error(`Unknown kernel: ${kernelName}. Expected one of ${Object.keys(KERNELS).join(', ')}.`);
  process.exit(2);
}

// Returns the time of one call of `fn` in ns, averaged over `repetitions` calls.
function timeCall(fn, repetitions) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < repetitions; i += 1) fn();
  return Number(process.hrtime.bigint() - start) / repetitions;
}

const contenders = [...builds.map(makeKernel), () => copy.set(x)];
const repetitions = contenders.map((fn) => {
  fn();
  return Math.max(1, Math.round(TARGET_NS / Math.max(timeCall(fn, 1), 1)));
});
const times = contenders.map(() => []);
for (let trial = 0; trial < TRIALS; trial += 1) {
  contenders.forEach((fn, k) => times[k].push(timeCall(fn, repetitions[k])));
}

const [a, b, copyNs] = times.map(median);
console.log(`${kernelName}, ${elements} elements, ${isa}: copy floor ${(copyNs / elements).toFixed(4)} ns per element`);
console.log(`  A ${(a / copyNs).toFixed(3)}x copy   B ${(b / copyNs).toFixed(3)}x copy   B / A ${(b / a).toFixed(3)}`);
