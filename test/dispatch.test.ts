import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, test } from 'vitest';

import {
  l2Loss,
  relu,
  sigmoid,
  sigmoidCrossEntropyWithLogits,
  softmax,
  softmaxCrossEntropyWithLogits,
  tanh,
} from '../lib/index';
import { AVAILABLE_ISAS, describeEachIsa } from './support/isa';
import { SPECIAL_VALUES } from './support/reference';
import { readMxcsrControl } from './support/mxcsr';

const packageEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

interface ChildReport {
  isa: string;
  available: string[];
  warnings: { code: string; message: string }[];
}

// Loads the built package in a fresh process with SIMD_NN_ISA set (or unset) and reports what it chose.
function loadWithIsa(request: string | undefined): ChildReport {
  const script = `
    const warnings = [];
    process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
    const nn = await import(${JSON.stringify(packageEntry)});
    const { isa, available } = nn.info();
    setImmediate(() => console.log(JSON.stringify({ isa, available, warnings })));
  `;
  const env = { ...process.env };
  delete env.SIMD_NN_ISA;
  if (request !== undefined) {
    env.SIMD_NN_ISA = request;
  }
  // stderr is captured, so that the warnings the child prints stay out of the test run's output.
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(output) as ChildReport;
}

describe('instruction set selection', () => {
  const best = AVAILABLE_ISAS[0];

  test('best set by default', () => {
    const report = loadWithIsa(undefined);
    expect(report.isa).toBe(best);
    expect(report.available).toEqual(AVAILABLE_ISAS);
    expect(report.warnings).toEqual([]);
  });

  test('available list ordered best first and ending in scalar', () => {
    const order = ['avx512', 'avx2', 'scalar'];
    const positions = AVAILABLE_ISAS.map((isa) => order.indexOf(isa));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(AVAILABLE_ISAS.at(-1)).toBe('scalar');
  });

  for (const request of ['scalar', 'avx2', 'avx512']) {
    test(`SIMD_NN_ISA=${request}`, () => {
      const report = loadWithIsa(request);
      if (AVAILABLE_ISAS.includes(request as never)) {
        expect(report.isa).toBe(request);
        expect(report.warnings).toEqual([]);
      } else {
        expect(report.isa).toBe(best);
        expect(report.warnings.map((w) => w.code)).toEqual(['SIMD_NN_ISA_UNAVAILABLE']);
      }
    });
  }

  test('unknown name warns and uses the best set', () => {
    const report = loadWithIsa('sse9');
    expect(report.isa).toBe(best);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0].code).toBe('SIMD_NN_ISA_INVALID');
    expect(report.warnings[0].message).toContain('SIMD_NN_ISA="sse9"');
  });

  test('invalid request warns once per process, not per worker', () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      let warnings = 0;
      process.on('warning', (w) => { if (w.code === 'SIMD_NN_ISA_INVALID') warnings++; });
      require(${JSON.stringify(packageEntry.replace(/index\.js$/, 'index.cjs'))});
      const source = 'require(' + JSON.stringify(${JSON.stringify(packageEntry.replace(/index\.js$/, 'index.cjs'))}) + ')';
      const workers = [0, 1].map(() => new Worker(source, { eval: true, stderr: true }));
      let workerOutput = '';
      for (const worker of workers) worker.stderr.on('data', (chunk) => (workerOutput += chunk));
      Promise.all(workers.map((w) => new Promise((resolve) => w.on('exit', resolve)))).then(() => {
        console.log(JSON.stringify({ warnings, workerWarnings: (workerOutput.match(/SIMD_NN_ISA_INVALID/g) || []).length }));
      });
    `;
    const output = execFileSync(process.execPath, ['-e', script], {
      env: { ...process.env, SIMD_NN_ISA: 'bogus' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(JSON.parse(output)).toEqual({ warnings: 1, workerWarnings: 0 });
  });

  test('NODE_DEBUG=simd-nn names the loaded binary', () => {
    const result = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(packageEntry.replace(/index\.js$/, 'index.cjs'))})`], {
      env: { ...process.env, NODE_DEBUG: 'simd-nn' },
      encoding: 'utf8',
    });
    expect(result.stderr).toMatch(/SIMD-NN \d+: loaded .*simd_nn\.node: isa /);
  });

  test('addons disabled by Node.js explains the flag', () => {
    const result = spawnSync(
      process.execPath,
      ['--no-addons', '-e', `try { require(${JSON.stringify(packageEntry.replace(/index\.js$/, 'index.cjs'))}) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`],
      { encoding: 'utf8' },
    );
    const error = JSON.parse(result.stdout) as { code: string; message: string };
    expect(error.code).toBe('ERR_SIMD_NN_LOAD');
    expect(error.message).toContain('does not allow native addons');
    expect(error.message).toContain('--no-addons');
    expect(error.message).not.toContain('build the addon from source');
  });

  test('empty value counts as unset', () => {
    const report = loadWithIsa('');
    expect(report.isa).toBe(best);
    expect(report.warnings).toEqual([]);
  });
});

describeEachIsa('floating-point environment', () => {
  test('MXCSR unchanged by every function', () => {
    const before = readMxcsrControl();
    const x = new Float32Array([...SPECIAL_VALUES, ...SPECIAL_VALUES]);
    relu(x);
    sigmoid(x);
    tanh(x);
    softmax(x, { shape: [2, SPECIAL_VALUES.length] });
    softmax(x, { shape: [SPECIAL_VALUES.length, 2] });
    softmaxCrossEntropyWithLogits({ labels: x, logits: x, shape: [2, SPECIAL_VALUES.length], backprop: x.slice() });
    sigmoidCrossEntropyWithLogits({ labels: x, logits: x });
    l2Loss(x);
    expect(readMxcsrControl()).toBe(before);
  });
});
