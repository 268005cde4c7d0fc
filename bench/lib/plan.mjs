// Command-line options and the job plan: which contender runs which op at which sizes, in which order.

import { parseArgs } from 'node:util';

import { CONTENDERS, contenderById } from './contenders/index.mjs';
import { COPY_OP, OPS, SMALL_CALL_OPS, selectOps } from './ops.mjs';

export const USAGE = `Usage: npm run bench -- [options]

Times simd-nn against a plain JavaScript loop, tfjs (CPU and wasm backends) and onnxruntime-node, each job
in a fresh Node process, and writes a console table, a JSON file and (full runs only) docs/benchmarks.md.

Options:
  --quick               short run (sizes 1K and 64K, one trial, short time budgets) that writes
                        bench/results/quick.json and leaves the docs alone unless --docs is given
  --trials N            trials (fresh processes per job, reshuffled) per job (default 3; quick: 1)
  --ops LIST            comma-separated op ids or kinds, e.g. relu,softmax or sce-c10-bp (default: all)
  --sizes LIST          element counts for the throughput table; K = 1024, M = 1048576
                        (default 1K,64K,1M,16M; quick: 1K,64K)
  --small-sizes LIST    element counts for the small-call table (default 1,16,64,256); 'none' skips it
  --contenders LIST     contender ids (default: all): ${CONTENDERS.map((contender) => contender.id).join(', ')}
  --isa LIST            extra instruction sets for the simd-nn (caller out) contender, each run under
                        SIMD_NN_ISA=<isa>; 'none' for none (default: every other available one; quick: none)
  --out FILE            JSON output path (default bench/results/latest.json; quick: bench/results/quick.json)
  --docs / --no-docs    write docs/benchmarks.md and docs/benchmarks.svg (default: on for full runs only)
  --docs-page NAME      write the docs as docs/NAME.md and docs/NAME.svg instead, e.g. benchmarks-avx2 for a
                        run on another machine (default: benchmarks)
  --from-json FILE      run nothing: print the table and regenerate the docs from an earlier JSON file
  --module SPEC         module to benchmark as simd-nn: a package name or a file path (default simd-nn)
  --seed N              seed of the job order shuffle (default 1)
  --help                print this help
`;

const DEFAULT_SIZES = [1024, 65536, 1048576, 16777216];
const QUICK_SIZES = [1024, 65536];
const DEFAULT_SMALL_SIZES = [1, 16, 64, 256];

// Contenders of the small-call table: simd-nn against the plain loop, the comparison that decides the crossover.
const SMALL_CALL_CONTENDERS = ['simd-nn', 'simd-nn-alloc', 'js'];

function parseList(text) {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function parseSize(text) {
  const match = /^(\d+)([kKmM]?)$/.exec(text);
  if (!match) throw new Error(`Invalid size "${text}": expected an integer with an optional K or M suffix.`);
  const multiplier = { '': 1, k: 1024, m: 1048576 }[match[2].toLowerCase()];
  return Number(match[1]) * multiplier;
}

function parsePositiveInteger(text, name) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`Invalid ${name} "${text}": expected a positive integer.`);
  return value;
}

/** Parses the command line into an options object; throws an Error with a usage hint on invalid input. */
export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      trials: { type: 'string' },
      ops: { type: 'string' },
      sizes: { type: 'string' },
      'small-sizes': { type: 'string' },
      contenders: { type: 'string' },
      isa: { type: 'string' },
      out: { type: 'string' },
      docs: { type: 'boolean' },
      'no-docs': { type: 'boolean' },
      'docs-page': { type: 'string', default: 'benchmarks' },
      'from-json': { type: 'string' },
      module: { type: 'string', default: 'simd-nn' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });

  const quick = values.quick;

  let sizes = quick ? QUICK_SIZES : DEFAULT_SIZES;
  if (values.sizes) sizes = parseList(values.sizes).map(parseSize);

  let smallSizes = DEFAULT_SMALL_SIZES;
  if (values['small-sizes'] === 'none') smallSizes = [];
  else if (values['small-sizes']) smallSizes = parseList(values['small-sizes']).map(parseSize);

  // null means the default: every other available instruction set in a full run, none in a quick run.
  let isa = null;
  if (values.isa === 'none') isa = [];
  else if (values.isa !== undefined) isa = parseList(values.isa);

  const options = {
    help: values.help,
    quick,
    fromJson: values['from-json'] ?? null,
    trials: values.trials ? parsePositiveInteger(values.trials, 'trial count') : quick ? 1 : 3,
    ops: values.ops ? parseList(values.ops) : null,
    sizes,
    smallSizes,
    contenders: values.contenders ? parseList(values.contenders) : CONTENDERS.map((contender) => contender.id),
    isa,
    out: values.out ?? (quick ? 'bench/results/quick.json' : 'bench/results/latest.json'),
    docs: values['no-docs'] ? false : (values.docs ?? !quick),
    docsPage: values['docs-page'],
    module: values.module,
    seed: parsePositiveInteger(values.seed, 'seed'),
  };

  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(options.docsPage)) {
    throw new Error(`Invalid --docs-page "${options.docsPage}": use letters, digits, ".", "_" and "-", such as benchmarks-avx2.`);
  }
  for (const id of options.contenders) contenderById(id);
  if (options.ops) {
    const known = new Set([...OPS, ...SMALL_CALL_OPS].flatMap((op) => [op.id, op.kind]));
    for (const id of options.ops) {
      if (!known.has(id)) throw new Error(`Unknown op "${id}". Known ops: ${[...known].join(', ')}.`);
    }
  }
  return options;
}

/**
 * Describes a simd-nn variant to run: `key` names it in results ('simd-nn' for the default instruction set,
 * 'simd-nn:avx2' for a forced one) and `isa` is the SIMD_NN_ISA value, or null to leave the environment alone.
 */
function contenderRuns(id, extraIsas) {
  if (id !== 'simd-nn') return [{ key: id, contender: id, isa: null }];
  return [
    { key: id, contender: id, isa: null },
    ...extraIsas.map((isa) => ({ key: `${id}:${isa}`, contender: id, isa })),
  ];
}

/**
 * Lists the jobs of one trial, before shuffling. `defaultIsa` and `availableIsas` come from simd-nn's info() in
 * the orchestrator process.
 */
export function planJobs(options, defaultIsa, availableIsas) {
  const extraIsas = (options.isa ?? (options.quick ? [] : availableIsas)).filter((isa) => isa !== defaultIsa);
  const budget = options.quick ? 'quick' : 'full';
  const smallBudget = options.quick ? 'smallQuick' : 'small';
  const jobs = [];

  for (const id of options.contenders) {
    if (id === 'copy') {
      jobs.push({ table: 'throughput', key: 'copy', contender: 'copy', isa: null, op: COPY_OP.id, budget });
      continue;
    }
    for (const run of contenderRuns(id, extraIsas)) {
      for (const op of selectOps(OPS, options.ops)) {
        jobs.push({ table: 'throughput', ...run, op: op.id, budget });
      }
    }
  }

  if (options.smallSizes.length > 0) {
    for (const id of options.contenders.filter((candidate) => SMALL_CALL_CONTENDERS.includes(candidate))) {
      for (const op of selectOps(SMALL_CALL_OPS, options.ops)) {
        jobs.push({ table: 'small', key: id, contender: id, isa: null, op: op.id, budget: smallBudget });
      }
    }
  }
  return { jobs, extraIsas };
}

// A seeded Fisher-Yates shuffle, so that a run's job order can be reproduced with --seed.
export function shuffle(items, seed) {
  const result = [...items];
  let state = seed >>> 0 || 1;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  for (let i = result.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j], result[i]];
  }
  return result;
}
