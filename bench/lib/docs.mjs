// The docs page, docs/benchmarks.md, rendered from a results document.

import { OPS } from './ops.mjs';
import {
  copyFloor,
  crossoverSentence,
  errorRows,
  findRow,
  formatPercent,
  formatRatio,
  formatSize,
  formatTime,
  markdownTable,
  noiseFigures,
  peerLabel,
  sizesOf,
  smallCallRows,
  throughputRows,
} from './tables.mjs';
import { BUDGETS } from './timing.mjs';

function describeMachine(meta) {
  const cpu = meta.cpu;
  const identity = cpu.family ? ` (${cpu.vendor}, family ${cpu.family}, model ${cpu.modelNumber})` : '';
  const virtual = cpu.hypervisor ? ', a virtual machine' : '';
  return `${cpu.model}${identity}, ${cpu.logicalCores} logical cores, ${meta.memoryGiB} GiB${virtual}; ${meta.platform}, kernel ${meta.kernel}`;
}

// The summary: simd-nn's figures at 64K and 16M (or the two largest sizes run), plus the extra instruction sets.
function summarySection(results) {
  const sizes = sizesOf(results.throughput).filter((size) => size === 65536 || size === 16777216);
  const shown = sizes.length > 0 ? sizes : sizesOf(results.throughput).slice(-2);
  const extraIsas = results.contenders.filter((contender) => contender.id === 'simd-nn' && contender.isa);
  const header = [
    'op',
    ...shown.flatMap((size) => [
      `${formatSize(size)} ns/elem`,
      ...extraIsas.map((contender) => `${formatSize(size)} ${contender.isa}`),
      '× copy',
      '× best peer',
    ]),
  ];
  const rows = [];
  for (const op of OPS) {
    const cells = shown.flatMap((size) => {
      const comparison = results.comparisons.find((candidate) => candidate.op === op.id && candidate.size === size);
      const extras = extraIsas.map((contender) =>
        formatTime(findRow(results.throughput, op.id, contender.key, size)?.nsPerElement),
      );
      if (!comparison) return ['–', ...extras, '–', '–'];
      const peer = comparison.bestPeer ? ` (${peerLabel(results, comparison.bestPeer)})` : '';
      return [
        formatTime(comparison.nsPerElement),
        ...extras,
        formatRatio(comparison.ratioToCopy),
        `${formatRatio(comparison.ratioToBestPeer)}${peer}`,
      ];
    });
    if (cells.every((cell) => cell === '–')) continue;
    rows.push([op.label, ...cells]);
  }
  return markdownTable(header, rows);
}

function budgetSentence(name) {
  const budget = BUDGETS[name];
  return (
    `at least ${budget.warmupMs} ms and ${budget.minWarmupCalls} call(s) of warm-up, then samples of about ` +
    `${budget.sampleMs} ms each until at least ${budget.minSamples} samples and ${budget.measureMs} ms are ` +
    `reached. Slow calls stop after ${budget.floorSamples} samples once ${budget.maxMs} ms have passed`
  );
}

function methodSection(results) {
  const options = results.options;
  const quick = options.quick;
  const noise = noiseFigures(results);
  let noiseText = 'This run had a single trial, so it gives no measure of its own noise.';
  if (noise) {
    const noisiest = noise.noisiest
      .map((row) => `${peerLabel(results, row.key)} on ${row.label} at ${formatSize(row.size)} (${formatPercent(row.spread)})`)
      .join(', ');
    noiseText =
      `In this run the per-trial medians of one figure differed from each other by a median of ` +
      `${formatPercent(noise.median)} of that figure (max minus min over the median, ${noise.count} figures), and ` +
      `by up to ${formatPercent(noise.max)}. The noisiest figures were ${noisiest}.`;
  }
  return `## Method

**What is timed.** One call of the op from Float32Array inputs to Float32Array results, back to back on the
same arrays, so inputs up to about 1M elements stay in cache between calls. Repeating the same input also lets
the branch predictor learn the outcomes of a small array, which can flatter branchy code at 1K. For simd-nn, "caller out" passes
\`out\` (and the \`backprop\` array) on every call and "allocating" lets simd-nn allocate the result (the
backprop variants then allocate a fresh gradient array per call, since the API always takes it from the caller).
The plain JS loop is each op written the obvious way, computing in float64 and writing into a preallocated
Float32Array. tfjs builds its input tensors from the arrays, runs the op inside \`tf.tidy\`, and reads the result
with \`dataSync()\`; the backprop variant uses \`tf.valueAndGrad\` over \`tf.losses.softmaxCrossEntropy\`, and l2
loss is \`sum(square(x)) * 0.5\`. The wasm backend loads its .wasm files from node_modules with
\`setWasmPaths\`; Node reports no threaded WebAssembly to tfjs, so it runs the single-threaded SIMD build.
onnxruntime-node runs each op as a small ONNX graph (opset 17) that the benchmark encodes itself. It uses the
CPU execution provider with 1 or 2 intra-op threads and writes into preallocated output tensors. Every call is
an awaited \`session.run\`, which onnxruntime-node schedules with \`setImmediate\`. The softmax cross-entropy graph
is LogSoftmax, Mul, ReduceSum and Neg (ONNX's SoftmaxCrossEntropyLoss takes class indices, not distributions),
plus Exp and Sub for the gradient; sigmoid cross-entropy is Relu(x) - x·z + Softplus(-|x|); l2 loss is
ReduceSumSquare · 0.5. relu6 is Clip(x, 0, 6), log sigmoid Neg(Softplus(Neg(x))), and silu x · Sigmoid(x)
(opset 17 has no Silu); leaky relu, softplus and softsign are ONNX's own operators. tfjs has no softsign or
silu, and leaky relu is \`tf.leakyRelu(x, 0.2)\`. The sparse softmax cross-entropy (class ids as labels) is
timed against the plain loop only: tfjs has no sparse loss, and no ONNX graph is written for it. Compare it with the dense loss with
backprop over as many classes. The copy floor is \`Float32Array.prototype.set\` of the input into a preallocated array.

**Sizes and data.** Sizes are element counts of the main input (K = 1024, M = 1048576). Ops with a class axis use
floor(size / classes) rows, and every per-element figure divides by the elements actually processed. Inputs are
uniform in [-8, 8]. Softmax cross-entropy labels are random distributions per row, and the sparse ones class
ids uniform over the classes. Sigmoid cross-entropy labels are uniform in [0, 1]. The data is seeded by op and size, so every contender gets identical inputs.

**Processes, trials and medians.** Every job (one contender, one op, all sizes in ascending order) runs in a
fresh Node process, so no contender inherits another's JIT state, heap or thread pool, and only one process runs
at a time. Each of the ${options.trials} trial(s) runs every job once, in an order reshuffled per trial, so slow
drifts of the machine spread over all contenders. Within a process, each size gets
${budgetSentence(quick ? 'quick' : 'full')}. A process reports the median of its samples, and a figure here is
the median of those per-trial medians. The small-call table uses ${budgetSentence(quick ? 'smallQuick' : 'small')}.

**Ratios.** "× copy" is simd-nn's time per element divided by the copy floor's at the same size. "× best peer"
is simd-nn's time divided by the fastest peer's at the same op and size. The peers are the plain JS loop, tfjs
CPU, tfjs wasm and onnxruntime with 1 or 2 threads. Below 1 simd-nn is faster, and 0.25 means four times as
fast.

**Accuracy.** In the first trial each process compares its last result with a float64 computation on the same
float32 inputs: the maximum over elements of |result - reference| / |reference|, and the worst over all sizes
is shown. For the gradient of the backprop variants it shows the maximum absolute error, because
softmax - labels cancels to near zero wherever the prediction matches the label.

**Noise.** The numbers come from one run on the machine described above, which other users share and which has
two cores. Another process or a neighbouring virtual machine can slow any one measurement, and turbo and memory
bandwidth vary. The 2-thread onnxruntime figures depend most on the second core being free. The medians over
samples and trials remove much of that but not all. ${noiseText} Each figure's own spread is the
\`spread\` field of its row in the JSON file, and a difference smaller than the spreads of the two figures
compared is not significant. Compare ratios measured in the same run rather than absolute times across machines.

**Running it.**

- \`npm run bench\`: the full run (3 trials, sizes 1K to 16M, every available instruction set); it writes
  bench/results/latest.json and regenerates this page and benchmarks.svg.
- \`npm run bench -- --quick\`: sizes 1K and 64K, one trial and short budgets, written to
  bench/results/quick.json; it does not touch the docs unless \`--docs\` is given.
- \`npm run bench -- --ops relu,softmax --sizes 64K,16M --contenders simd-nn,ort-1t\`: a subset. Ops are
  selected by id (such as \`sce-c10-bp\`) or by kind (\`softmaxCrossEntropy\`).
- \`npm run bench -- --isa avx2\`: adds the simd-nn (caller out) contender under \`SIMD_NN_ISA=avx2\`; by
  default a full run adds every available instruction set other than the default one.
- \`npm run bench -- --from-json bench/results/latest.json\`: prints the tables and regenerates this page from an
  earlier run without timing anything.
- \`npm run bench -- --help\` lists every option.
`;
}

/**
 * Renders docs/benchmarks.md. `links.chartFile` and `links.jsonFile` are paths relative to the docs folder.
 */
// Names the kind of run: quick, full, or the subset of ops it timed (--ops).
function describeRunKind(options) {
  if (options.quick) return 'quick';
  if (options.ops && options.ops.length > 0) return `ops ${options.ops.join(', ')} only`;
  return 'full';
}

export function renderMarkdown(results, links) {
  const { meta, options } = results;
  const info = meta.simdNn;
  const peers = Object.entries(meta.peers)
    .map(([name, version]) => `${name} ${version ?? '(not installed)'}`)
    .join(', ');
  const minutes = (results.durationSeconds / 60).toFixed(1);
  const parts = [];

  parts.push(`# Benchmarks

<!-- Generated by bench/run.mjs from ${links.jsonFile}. Edit bench/lib/docs.mjs, not this file. -->

How fast simd-nn's kernels run next to a plain JavaScript loop, TensorFlow.js and onnxruntime-node, and how
accurate each is. This machine is shared and has two cores: read the noise paragraph under [Method](#method)
before quoting a number.

- Run: ${describeRunKind(options)}, ${meta.date.slice(0, 10)}, ${options.trials} trial(s), ${minutes} minutes.
- Machine: ${describeMachine(meta)}.
- Software: Node ${meta.node} (V8 ${meta.v8}); simd-nn ${info.version} with default instruction set
  **${info.isa}** (available: ${info.available.join(', ')}); ${peers}.
- Raw figures: [${links.jsonFile}](${links.jsonFile}).

## Summary

simd-nn with a caller-supplied \`out\`: median ns per element with the default instruction set and with every
other one timed. "× copy" is its time relative to the copy floor. "× best peer" is its time relative to the
fastest peer at the same op and size, named in brackets, so below 1 simd-nn is faster.

${summarySection(results)}

![ns per element by size for each op](${links.chartFile})

The chart plots ns per element against size on log scales, one panel per op.`);

  parts.push('\n## Throughput by size\n\nMedian ns per element; lower is better.');
  for (const size of sizesOf(results.throughput)) {
    const { header, rows } = throughputRows(results, size);
    parts.push(`\n### ${formatSize(size)}: copy floor ${formatTime(copyFloor(results, size))} ns per element\n`);
    parts.push(markdownTable(header, rows));
  }

  const errors = errorRows(results);
  parts.push(`\n## Accuracy

Maximum relative error against float64 over all sizes (for the backprop variants: loss / maximum absolute
error of the gradient). A float32 result rounded correctly has a relative error of at most 6.0e-8.

${markdownTable(errors.header, errors.rows)}`);

  if (results.small.length > 0) {
    const { header, rows } = smallCallRows(results);
    const sentences = results.crossovers.map((crossover) => `- ${crossoverSentence(crossover)}`).join('\n');
    parts.push(`\n## Small calls

Median ns per call (not per element) at n elements. Softmax and softmax cross-entropy here take one row of n
classes. This is where the fixed cost of a call into native code shows.

${markdownTable(header, rows)}

Where simd-nn with a caller-supplied \`out\` overtakes the plain loop:

${sentences}`);
  }

  if (results.failures.length > 0) {
    const list = results.failures
      .map((failure) => `- trial ${failure.trial + 1}, ${failure.key}, ${failure.op}: ${failure.message.split('\n')[0]}`)
      .join('\n');
    parts.push(`\n## Failed jobs\n\n${list}`);
  }

  parts.push(`\n${methodSection(results)}`);
  return `${parts.join('\n')}`;
}
