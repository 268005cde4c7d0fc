// Benchmark orchestrator for `npm run bench`. It runs every job (one contender, one op, all sizes) in a fresh
// worker process, one process at a time, trial after trial, with the job order reshuffled per trial. It then
// aggregates medians, prints the tables, writes the JSON file and, for full runs, regenerates
// docs/benchmarks.md and docs/benchmarks.svg. Run with --help for the options.

import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadSimdNn } from './lib/contenders/simd-nn.mjs';
import { USAGE, parseOptions, planJobs, shuffle } from './lib/plan.mjs';
import { renderChart } from './lib/chart.mjs';
import { renderMarkdown } from './lib/docs.mjs';
import { renderConsole } from './lib/report.mjs';
import { buildResults, collectMeta, compare, crossovers, jsonReplacer } from './lib/results.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.dirname(benchDir);
const workerPath = path.join(benchDir, 'worker.mjs');

// A worker that runs longer than this is stopped and reported as failed.
const JOB_TIMEOUT_MS = { full: 15 * 60_000, quick: 2 * 60_000 };

function log(message) {
  process.stderr.write(`${message}\n`);
}

/**
 * Runs one job in a fresh process and resolves to its per-size results and, if it failed, the reason. Stdout and
 * stderr of the worker are kept and shown only on failure, because tfjs prints advice on load.
 */
function runWorker(job, timeoutMs) {
  return new Promise((resolve) => {
    const env = { ...process.env };
    if (job.isa) env.SIMD_NN_ISA = job.isa;
    const child = fork(workerPath, [JSON.stringify(job)], {
      cwd: repoDir,
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let results = [];
    let output = '';
    let failure = null;
    let simdNnInfo = null;
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      failure = `timed out after ${timeoutMs / 1000} s`;
      child.kill('SIGKILL');
    }, timeoutMs);

    child.on('message', (message) => {
      if (message.type === 'ready') simdNnInfo = message.simdNnInfo;
      if (message.type === 'result') results.push(message);
      if (message.type === 'failed') failure = message.message;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!failure && code !== 0) failure = `worker exited with ${signal ?? `code ${code}`}`;
      if (!failure && job.isa && simdNnInfo?.isa !== job.isa) {
        failure = `SIMD_NN_ISA=${job.isa} was not honoured: simd-nn reported ISA ${simdNnInfo?.isa}. Check --isa against info().available.`;
        // The timings belong to another instruction set, so none of them may be reported under this one.
        results = [];
      }
      if (failure && output.trim() !== '') failure += `\n--- worker output ---\n${output.trim()}`;
      resolve({ results, failure });
    });
  });
}

async function runTrials(options, jobs) {
  const records = [];
  const failures = [];
  const timeoutMs = options.quick ? JOB_TIMEOUT_MS.quick : JOB_TIMEOUT_MS.full;
  for (let trial = 0; trial < options.trials; trial += 1) {
    const order = shuffle(jobs, options.seed * 1000 + trial);
    for (const [index, job] of order.entries()) {
      const sizes = job.table === 'small' ? options.smallSizes : options.sizes;
      // Errors against float64 depend only on the data, so the first trial measures them for all.
      const workerJob = { ...job, sizes, checkError: trial === 0, module: options.module };
      const started = performance.now();
      const { results, failure } = await runWorker(workerJob, timeoutMs);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const position = `${String(index + 1).padStart(String(order.length).length)}/${order.length}`;
      log(`trial ${trial + 1}/${options.trials}  ${position}  ${job.table.padEnd(10)} ${job.key.padEnd(16)} ${job.op.padEnd(14)} ${seconds} s`);
      for (const result of results) {
        records.push({ trial, table: job.table, key: job.key, op: job.op, ...result });
      }
      if (failure) {
        failures.push({ trial, table: job.table, key: job.key, op: job.op, message: failure });
        log(`  FAILED: ${failure}`);
      }
    }
  }
  return { records, failures };
}

function writeFile(relativePath, text) {
  const target = path.resolve(repoDir, relativePath);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  log(`wrote ${path.relative(repoDir, target)}`);
}

function writeDocs(results, jsonPath, page) {
  const chartName = `${page}.svg`;
  writeFile(path.join('docs', chartName), renderChart(results));
  const jsonLink = path.relative(path.join(repoDir, 'docs'), path.resolve(repoDir, jsonPath)).split(path.sep).join('/');
  writeFile(path.join('docs', `${page}.md`), renderMarkdown(results, { chartFile: chartName, jsonFile: jsonLink }));
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    log(`${error.message}\nRun "npm run bench -- --help" for the options.`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }

  if (options.fromJson) {
    const results = JSON.parse(readFileSync(path.resolve(options.fromJson), 'utf8'));
    // Recompute the derived figures, so that a change to their definition applies to old runs too.
    results.comparisons = compare(results.throughput);
    results.crossovers = crossovers(results.small, results.throughput);
    process.stdout.write(renderConsole(results));
    if (options.docs) writeDocs(results, options.fromJson, options.docsPage);
    return;
  }

  // The orchestrator loads simd-nn only to read info(); it times nothing itself.
  let info;
  try {
    ({ info } = await loadSimdNn(options.module));
  } catch (error) {
    log(`Failed to load simd-nn from "${options.module}": ${error.message}\nBuild it first with "npm run build".`);
    process.exitCode = 1;
    return;
  }
  const { jobs, extraIsas } = planJobs(options, info.isa, info.available);
  log(`simd-nn ${info.version}, default ISA ${info.isa}, extra ISAs: ${extraIsas.join(', ') || 'none'}`);
  log(`${jobs.length} jobs x ${options.trials} trial(s), each job in a fresh process`);

  const started = performance.now();
  const { records, failures } = await runTrials(options, jobs);
  const durationSeconds = Math.round((performance.now() - started) / 1000);

  const recordedOptions = { ...options, extraIsas };
  delete recordedOptions.help;
  delete recordedOptions.fromJson;
  const results = buildResults({ meta: collectMeta(info), options: recordedOptions, records, failures, durationSeconds });

  writeFile(options.out, `${JSON.stringify(results, jsonReplacer, 2)}\n`);
  process.stdout.write(renderConsole(results));
  if (options.docs) writeDocs(results, options.out, options.docsPage);
  log(`finished in ${durationSeconds} s`);

  if (failures.length > 0) {
    log(`${failures.length} job(s) failed; see "failures" in ${options.out}.`);
    process.exitCode = 1;
  }
}

await main();
