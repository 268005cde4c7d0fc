// Checks that the addon selects the expected kernel set on this CPU and that every kernel of that set
// computes correct results. Plain Node (no test runner), so that it can run under qemu-user, which
// emulates only the process it starts: `qemu-x86_64 -cpu Haswell-v4 $(which node) dispatch-check.mjs avx2`.
//
// Usage: node test/qemu/dispatch-check.mjs EXPECTED_ISA
// Loads build/Release/simd_nn.node directly, asserts info().isa === EXPECTED_ISA, compares each function
// with a float64 reference within the library's error bounds on a few inputs (vector bodies, tails, NaN,
// infinities, -0), and exits with status 1 on the first failed group. Prints "N passed, N failed" last.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const expectedIsa = process.argv[2];
if (!expectedIsa) {
  console.error('Usage: node test/qemu/dispatch-check.mjs EXPECTED_ISA (scalar, avx2 or avx512)');
  process.exit(2);
}

const require = createRequire(import.meta.url);
const addonPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'simd_nn.node');
const binding = require(addonPath);

let passed = 0;
let failed = 0;

function check(name, condition, detail) {
  if (condition) {
    passed += 1;
  } else {
    failed += 1;
    console.log(`FAIL ${name}: ${detail}`);
  }
}

// Distance in representable float32 values between two floats.
const bits = new DataView(new ArrayBuffer(4));
function ordinal(value) {
  bits.setFloat32(0, value);
  const word = bits.getInt32(0);
  return word < 0 ? -(word & 0x7fffffff) : word;
}
function ulpDistance(a, b) {
  return Math.abs(ordinal(a) - ordinal(b));
}

// ulp error of `actual` against the float32 rounding of the float64 `expected`, measured in ulps of
// max(|expected|, scale). Results below 2^-126 may be off by 2^-126. NaN must match NaN, infinities exactly.
function ulpError(actual, expected, scale = 0) {
  if (Number.isNaN(expected) || Number.isNaN(actual)) {
    return Number.isNaN(expected) && Number.isNaN(actual) ? 0 : Infinity;
  }
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
    return actual === Math.fround(expected) ? 0 : Infinity;
  }
  const magnitude = Math.max(Math.abs(expected), scale);
  if (magnitude < 2 ** -126) {
    return Math.abs(actual - expected) <= 2 ** -126 ? 0 : Infinity;
  }
  if (magnitude === Math.abs(expected)) {
    return ulpDistance(actual, Math.fround(expected));
  }
  const ulp = 2 ** (Math.floor(Math.log2(Math.fround(magnitude))) - 23);
  return Math.abs(actual - expected) / ulp;
}

function checkClose(name, actual, expected, bound, scale = 0) {
  const error = ulpError(actual, expected, scale);
  check(name, error <= bound, `got ${actual}, expected ${expected} (error ${error} ulp, bound ${bound})`);
}

// A Float32Array view at byteOffset 4, so that kernels see a pointer that is not 8-byte aligned.
function offsetView(values) {
  const view = new Float32Array(new ArrayBuffer((values.length + 1) * 4), 4, values.length);
  view.set(values);
  return view;
}

function sigmoidReference(x) {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

// Inputs of lengths that exercise vector bodies (8 and 16 lanes) and tails.
const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 88.8, -88.8, 100, -100, 9.5, -9.5, 0.5625];
function testInputs(length) {
  const values = [];
  for (let i = 0; i < length; i += 1) {
    values.push(i < specials.length ? specials[i] : Math.fround(Math.sin(i * 12.9898) * 12));
  }
  return values;
}

const info = binding.info();
check('info().isa', info.isa === expectedIsa, `expected "${expectedIsa}", got "${info.isa}" (available: ${info.available.join(', ')})`);

const elementwise = [
  ['relu', binding.relu, (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0)), 0],
  ['sigmoid', binding.sigmoid, sigmoidReference, 2],
  ['tanh', binding.tanh, Math.tanh, 2],
  ['relu6', binding.relu6, (x) => (Number.isNaN(x) ? NaN : Math.min(Math.max(x, 0), 6)), 0],
  ['leakyRelu', (x, y) => binding.leakyRelu(x, y, 0.2), (x) => (x > 0 ? x : Math.fround(0.2) * x), 0],
  ['softplus', binding.softplus, (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), 2],
  ['logSigmoid', binding.logSigmoid, (x) => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))), 2],
  ['silu', (x, y) => binding.silu(x, y, 1), (x) => (x === -Infinity ? -0 : x / (1 + Math.exp(-x))), 2],
  ['softsign', binding.softsign, (x) => (Number.isFinite(x) ? x / (Math.abs(x) + 1) : Math.sign(x)), 1],
  ['exp', binding.testingExp, Math.exp, 1],
];
for (const [name, kernel, reference, bound] of elementwise) {
  for (const length of [1, 7, 15, 16, 17, 33, 70]) {
    const x = offsetView(testInputs(length));
    const y = new Float32Array(length);
    kernel(x, y);
    for (let i = 0; i < length; i += 1) {
      checkClose(`${name}(${x[i]}) [length ${length}]`, y[i], reference(x[i]), bound);
    }
  }
}
{
  const y = new Float32Array(1);
  binding.tanh(Float32Array.of(-0), y);
  check('tanh(-0) is -0', Object.is(y[0], -0), `got ${y[0]}`);
}

// Softmax and cross-entropy rows: few classes (vectorized across rows) and many (within a row), with a NaN
// row, a +inf row and an all -inf row.
function rowReference(row, labels) {
  const max = Math.max(...row);
  const invalid = row.some((v) => Number.isNaN(v)) || max === Infinity || max === -Infinity;
  let count = 0;
  let rest = 0;
  for (const v of row) {
    if (v === max) count += 1;
    else rest += Math.exp(v - max);
  }
  const sum = count + rest;
  const logSum = count === 1 ? Math.log1p(rest) : Math.log(sum);
  let loss = 0;
  labels.forEach((z, j) => {
    if (z !== 0) loss += z * (logSum - (row[j] - max));
  });
  const softmax = row.map((v) => (invalid ? NaN : Math.exp(v - max) / sum));
  return { softmax, loss: invalid ? NaN : loss, logSum: invalid ? 0 : logSum };
}

for (const classes of [3, 10, 17, 1000]) {
  const rows = 19;
  const logits = [];
  const labels = [];
  for (let r = 0; r < rows; r += 1) {
    for (let j = 0; j < classes; j += 1) {
      logits.push(Math.fround(Math.sin((r * classes + j) * 4.1414) * 7));
      labels.push(j === (r * 7) % classes ? 1 : 0);
    }
  }
  logits[0] = NaN;
  logits[classes + 1] = Infinity;
  for (let j = 0; j < classes; j += 1) logits[2 * classes + j] = -Infinity;
  logits[3 * classes] = -Infinity;

  const x = offsetView(logits);
  const z = offsetView(labels);
  const softmax = new Float32Array(rows * classes);
  const loss = new Float32Array(rows);
  const backprop = new Float32Array(rows * classes);
  binding.softmax(x, softmax, rows, classes, 1);
  binding.softmaxCrossEntropy(z, x, loss, backprop, rows, classes, 1, rows, classes, 1, 1);
  for (let r = 0; r < rows; r += 1) {
    const row = logits.slice(r * classes, (r + 1) * classes);
    const rowLabels = labels.slice(r * classes, (r + 1) * classes);
    const expected = rowReference(row, rowLabels);
    for (let j = 0; j < classes; j += 1) {
      checkClose(`softmax row ${r} class ${j} [${classes} classes]`, softmax[r * classes + j], expected.softmax[j], 8);
      const gradient = expected.softmax[j] - rowLabels[j];
      checkClose(`backprop row ${r} class ${j} [${classes} classes]`, backprop[r * classes + j], gradient, 8, 1);
    }
    checkClose(`loss row ${r} [${classes} classes]`, loss[r], expected.loss, 8, expected.logSum);
  }
}

{
  const logits = offsetView([0.8, -1.2, Infinity, Infinity, -Infinity, -Infinity, NaN, 30, -30, 0]);
  const labels = offsetView([1, 0, 1, 0.25, 0, 0.5, 1, 0.3, 0.7, 0.5]);
  const out = new Float32Array(logits.length);
  binding.sigmoidCrossEntropy(labels, logits, out);
  for (let i = 0; i < logits.length; i += 1) {
    const x = logits[i];
    const z = labels[i];
    let expected;
    let softplus = 0;
    if (x === Infinity) expected = z === 1 ? 0 : (1 - z) * Infinity;
    else if (x === -Infinity) expected = z === 0 ? 0 : z * Infinity;
    else {
      softplus = Math.log1p(Math.exp(-Math.abs(x)));
      expected = (x >= 0 ? x * (1 - z) : -x * z) + softplus;
    }
    checkClose(`sigmoidCrossEntropy(${z}, ${x})`, out[i], expected, 2, softplus);
  }
}

for (const length of [0, 5, 16, 37]) {
  const values = testInputs(length + 20).slice(20);
  const x = offsetView(values);
  const exact = values.reduce((sum, v) => sum + v * v, 0) / 2;
  checkClose(`l2Loss [length ${length}]`, binding.l2Loss(x), exact, 1);
}
checkClose('l2Loss([2e19])', binding.l2Loss(Float32Array.of(2e19)), Math.fround(2e19) ** 2 / 2, 1);

console.log(`${info.isa}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
