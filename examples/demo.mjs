// The README's first run: every function on small inputs beside TensorFlow-derived reference values, then a
// realistic batch through softmax and the fused cross-entropy. Run with `npm run demo`.
import { performance } from 'node:perf_hooks';

import * as nn from 'simd-nn';

const DIGITS = 6;

// Float32 rounding of the exact results, to 8 significant digits, and each function's error bound in ulp.
// The backprop bound is this demo's own check (4 ulp); the others are the documented bounds.
const REFERENCES = [
  {
    call: 'relu([-3, -1, 0, 2, 4])',
    maxUlp: 0,
    run: () => nn.relu([-3, -1, 0, 2, 4]),
    expected: [0, 0, 0, 2, 4],
  },
  {
    call: 'sigmoid([-3, -1, 0, 2, 4])',
    maxUlp: 2,
    run: () => nn.sigmoid([-3, -1, 0, 2, 4]),
    expected: [0.047425874, 0.26894143, 0.5, 0.88079709, 0.98201376],
  },
  {
    call: 'tanh([-3, -1, 0, 2, 4])',
    maxUlp: 2,
    run: () => nn.tanh([-3, -1, 0, 2, 4]),
    expected: [-0.99505478, -0.76159418, 0, 0.96402758, 0.99932933],
  },
  {
    call: 'relu6([-3, 2, 9])',
    maxUlp: 0,
    run: () => nn.relu6([-3, 2, 9]),
    expected: [0, 2, 6],
  },
  {
    call: 'leakyRelu([-10, 0, 3]), alpha 0.2',
    maxUlp: 0,
    run: () => nn.leakyRelu([-10, 0, 3]),
    expected: [-2, 0, 3],
  },
  {
    call: 'softplus([-20, 0, 3])',
    maxUlp: 2,
    run: () => nn.softplus([-20, 0, 3]),
    expected: [2.0611537e-9, 0.69314718, 3.0485873],
  },
  {
    call: 'logSigmoid([-100, 0, 5])',
    maxUlp: 2,
    run: () => nn.logSigmoid([-100, 0, 5]),
    expected: [-100, -0.69314718, -0.0067153485],
  },
  {
    call: 'softsign([-3, 0, 1, Infinity])',
    maxUlp: 1,
    run: () => nn.softsign([-3, 0, 1, Infinity]),
    expected: [-0.75, 0, 0.5, 1],
  },
  {
    call: 'silu([-1, 0, 1])',
    maxUlp: 2,
    run: () => nn.silu([-1, 0, 1]),
    expected: [-0.26894143, 0, 0.7310586],
  },
  {
    call: 'softmax([2, 1, 0.1])',
    maxUlp: 8,
    run: () => nn.softmax([2, 1, 0.1]),
    expected: [0.65900111, 0.24243297, 0.098565891],
  },
  {
    call: 'softmaxCrossEntropyWithLogits(labels [[1, 0, 0]], logits [[2, 1, 0.1]])',
    maxUlp: 8,
    run: () => nn.softmaxCrossEntropyWithLogits({ labels: [[1, 0, 0]], logits: [[2, 1, 0.1]] }),
    expected: [0.41703001],
  },
  {
    call: '  ... its backprop',
    maxUlp: 4,
    run: () => {
      const backprop = new Float32Array(3);
      nn.softmaxCrossEntropyWithLogits({ labels: [[1, 0, 0]], logits: [[2, 1, 0.1]], backprop });
      return backprop;
    },
    expected: [-0.34099886, 0.24243297, 0.098565891],
  },
  {
    call: 'sparseSoftmaxCrossEntropyWithLogits(labels [0], logits [[2, 1, 0.1]])',
    maxUlp: 8,
    run: () => nn.sparseSoftmaxCrossEntropyWithLogits({ labels: [0], logits: [[2, 1, 0.1]] }),
    expected: [0.41703001],
  },
  {
    call: 'sigmoidCrossEntropyWithLogits(labels [[1, 0]], logits [[0.8, -1.2]])',
    maxUlp: 2,
    run: () => nn.sigmoidCrossEntropyWithLogits({ labels: [[1, 0]], logits: [[0.8, -1.2]] }),
    expected: [0.37110066, 0.26328245],
  },
  {
    call: 'l2Loss([1, 2, 3])',
    maxUlp: 1,
    run: () => [nn.l2Loss([1, 2, 3])],
    expected: [7],
  },
  {
    call: 'l2Normalize([3, 4])',
    maxUlp: 1,
    run: () => nn.l2Normalize([3, 4]),
    expected: [0.6, 0.8],
  },
  {
    call: 'classifier: softmax([[2.5, 0.3, -1.2]])',
    maxUlp: 8,
    run: () => nn.softmax([[2.5, 0.3, -1.2]]),
    expected: [0.88064861, 0.097578652, 0.021772739],
  },
  {
    call: 'classifier: loss with labels [[1, 0, 0]]',
    maxUlp: 8,
    run: () => nn.softmaxCrossEntropyWithLogits({ labels: [[1, 0, 0]], logits: [[2.5, 0.3, -1.2]] }),
    expected: [0.12709658],
  },
];

function format(values) {
  return `[${Array.from(values, (v) => Number(v.toPrecision(DIGITS))).join(', ')}]`;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// Maps a float32 value to an integer that increases with the value, so neighbouring floats differ by 1.
function orderedBits(value) {
  f32[0] = value;
  return u32[0] & 0x80000000 ? -(u32[0] & 0x7fffffff) : u32[0];
}

// Returns the largest distance in float32 ulp between the results and the references.
function maxUlpDistance(actual, expected) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(orderedBits(actual[i]) - orderedBits(Math.fround(expected[i]))));
  }
  return worst;
}

function printReferences() {
  let mismatches = 0;
  for (const { call, maxUlp, run, expected } of REFERENCES) {
    const actual = run();
    // The references are rounded to 8 significant digits, which can move them by 1 ulp.
    const distance = maxUlpDistance(actual, expected);
    const verdict = distance <= maxUlp + 1 ? `ok, ${distance} ulp` : `DIFFERS by ${distance} ulp`;
    if (distance > maxUlp + 1) {
      mismatches++;
    }
    console.log(`${call}\n  simd-nn   ${format(actual)}\n  reference ${format(expected)}  (${verdict})`);
  }
  return mismatches;
}

// A seeded generator (mulberry32), so the batch is the same on every run.
function createRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function runBatch() {
  const rows = 4096;
  const classes = 1000;
  const random = createRandom(2024);
  const logits = new Float32Array(rows * classes);
  for (let i = 0; i < logits.length; i++) {
    logits[i] = 8 * random() - 4;
  }
  const labels = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    labels[r * classes + Math.floor(random() * classes)] = 1;
  }

  const probabilities = new Float32Array(rows * classes);
  const loss = new Float32Array(rows);
  const backprop = new Float32Array(rows * classes);
  const shape = [rows, classes];

  // One untimed pass so that page faults on the fresh outputs are not counted.
  nn.softmax(logits, { shape, out: probabilities });
  nn.softmaxCrossEntropyWithLogits({ labels, logits, shape, out: loss, backprop });

  let start = performance.now();
  nn.softmax(logits, { shape, out: probabilities });
  const softmaxMs = performance.now() - start;

  start = performance.now();
  nn.softmaxCrossEntropyWithLogits({ labels, logits, shape, out: loss, backprop });
  const crossEntropyMs = performance.now() - start;

  const meanLoss = loss.reduce((sum, value) => sum + value, 0) / rows;
  console.log(`\nBatch: ${rows} rows x ${classes} classes of seeded random logits in [-4, 4), one-hot labels`);
  console.log(`  softmax                               ${softmaxMs.toFixed(2)} ms`);
  console.log(`  cross-entropy with backprop (fused)   ${crossEntropyMs.toFixed(2)} ms`);
  // For logits uniform in [-4, 4), the expected loss is about ln(classes * E[e^x]) - E[x] = ln(classes * sinh(4) / 4).
  const expectedLoss = Math.log((classes * Math.sinh(4)) / 4);
  console.log(`  mean loss ${meanLoss.toPrecision(DIGITS)} (expected about ${expectedLoss.toPrecision(DIGITS)})`);
}

const { version, isa, available } = nn.info();
console.log(`simd-nn ${version}: instruction set ${isa} (this CPU supports ${available.join(', ')})\n`);
const mismatches = printReferences();
runBatch();
if (mismatches > 0) {
  console.error(`\n${mismatches} result(s) differ from the reference by more than their bound.`);
  process.exitCode = 1;
}
