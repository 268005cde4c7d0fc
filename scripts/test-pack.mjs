/**
 * Tests the package as a user receives it: packs it with npm, installs the tarball into a new temporary project
 * with --ignore-scripts, so nothing is compiled, and checks there that
 * - the tarball contains what users need and nothing from the repository's development files,
 * - the installed package has no build/ folder, and the prebuild from prebuilds/ is the binary that loads,
 * - `require('simd-nn')`, `import 'simd-nn'` and TypeScript files compiled against the package's types (ESM and
 *   CommonJS) compute sigmoid, softmax and the softmax cross-entropy with backprop within float32 accuracy of
 *   float64 references,
 * - the prebuild runs on x86-64 CPUs without AVX, and picks AVX2 on one without AVX-512 (when qemu-x86_64 is
 *   installed: Debian's qemu-user),
 * - with the prebuilds hidden, loading fails with one ERR_SIMD_NN_LOAD error that names the platform, libc and
 *   Node.js version and says how to build from source,
 * - the install script does nothing when the prebuild loads,
 * - with --source-build: SIMD_NN_BUILD_FROM_SOURCE=1 npm rebuild simd-nn builds the addon in the installed
 *   package, fetching cmake-js through npm as a user would, and that build then loads. This needs a C++
 *   compiler, CMake and the npm registry.
 *
 * Usage: node scripts/test-pack.mjs [--source-build] [--keep]
 * The prebuild for this machine is built first (npm run prebuildify) when it is missing or older than the
 * native sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireFromRepo = createRequire(join(repoRoot, 'package.json'));
const packageJson = requireFromRepo('./package.json');

const { values: options } = parseArgs({
  options: {
    'source-build': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

const results = { passed: 0, failed: 0 };

function pass(name) {
  results.passed += 1;
  console.log(`ok - ${name}`);
}

function fail(name, detail) {
  results.failed += 1;
  console.log(`FAIL - ${name}\n${detail.replace(/^/gm, '    ')}`);
}

function check(name, condition, detail = '') {
  if (condition) {
    pass(name);
  } else {
    fail(name, detail || 'condition not met');
  }
  return condition;
}

/** Runs a command and returns its exit status and output. Throws only when the command cannot start. */
function run(command, args, { cwd = repoRoot, env = {}, input } = {}) {
  const shell = process.platform === 'win32' && command === 'npm';
  const result = spawnSync(shell ? 'npm.cmd' : command, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    input,
    shell,
    maxBuffer: 1 << 28,
  });
  if (result.error) {
    throw result.error;
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command that must succeed, else stops the test with its output. */
function runOrExit(command, args, settings) {
  const result = run(command, args, settings);
  if (result.status !== 0) {
    console.log(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
    console.log(result.stdout + result.stderr);
    process.exit(1);
  }
  return result;
}

// --- The prebuild -------------------------------------------------------------------------------------------

function newestModification(path) {
  const stats = statSync(path);
  if (!stats.isDirectory()) {
    return stats.mtimeMs;
  }
  return Math.max(stats.mtimeMs, ...readdirSync(path).map((name) => newestModification(join(path, name))));
}

function listPrebuilds() {
  const folder = join(repoRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  return existsSync(folder) ? readdirSync(folder).filter((name) => name.endsWith('.node')).map((name) => join(folder, name)) : [];
}

function ensurePrebuild() {
  const sourcesChanged = Math.max(newestModification(join(repoRoot, 'native')), newestModification(join(repoRoot, 'CMakeLists.txt')));
  const prebuilds = listPrebuilds();
  if (prebuilds.length > 0 && prebuilds.every((file) => statSync(file).mtimeMs >= sourcesChanged)) {
    return;
  }
  console.log('# building the prebuild: npm run prebuildify');
  runOrExit('npm', ['run', 'prebuildify']);
}

// --- Packing ------------------------------------------------------------------------------------------------

// Paths every tarball must contain, besides the prebuild for this machine.
const REQUIRED_FILES = [
  'package.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'dist/index.js',
  'dist/index.cjs',
  'dist/index.d.ts',
  'dist/index.d.cts',
  'CMakeLists.txt',
  'native/addon.cpp',
  'native/kernels/scalar.cpp',
  'scripts/install.mjs',
];
// Development files that must stay out of the tarball.
const FORBIDDEN_PATHS = /^(build|lib|test|bench|tools|examples|docs|node_modules|\.ci|\.github|scripts\/(?!install\.mjs$))\/|^(tsconfig\.json|tsup\.config\.ts|vitest\.config\.ts|package-lock\.json|\.gitignore)$/;

function pack(destination) {
  console.log('# npm run build:ts, then npm pack');
  runOrExit('npm', ['run', 'build:ts']);
  const { stdout } = runOrExit('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', destination]);
  const [summary] = JSON.parse(stdout);
  const files = summary.files.map((file) => file.path);
  const prebuildPaths = files.filter((path) => path.startsWith(`prebuilds/${process.platform}-${process.arch}/`));

  const missing = REQUIRED_FILES.filter((path) => !files.includes(path));
  check('tarball holds the package files', missing.length === 0, `missing: ${missing.join(', ')}`);
  check(`tarball holds a prebuild for ${process.platform}-${process.arch}`, prebuildPaths.length > 0,
    `files under prebuilds/: ${files.filter((path) => path.startsWith('prebuilds/')).join(', ') || 'none'}`);
  const forbidden = files.filter((path) => FORBIDDEN_PATHS.test(path));
  check('tarball holds no development files', forbidden.length === 0, `unexpected: ${forbidden.join(', ')}`);

  console.log(`# ${summary.filename}: ${files.length} files, ${summary.size} bytes packed, ${summary.unpackedSize} unpacked`);
  return { tarball: join(destination, summary.filename), prebuildPaths };
}

// --- The consumer project -----------------------------------------------------------------------------------

// Shared by the CommonJS and ESM checks: computes with the package and compares with float64 references.
const VERIFY_SOURCE = String.raw`
'use strict';
const { readFileSync } = require('node:fs');

function sigmoid64(x) { return 1 / (1 + Math.exp(-x)); }

function softmax64(row) {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function crossEntropy64(labels, logits) {
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
  const loss = labels.reduce((a, z, j) => a + (z === 0 ? 0 : z * (logSum - (logits[j] - max))), 0);
  const backprop = softmax64(logits).map((p, j) => p - labels[j]);
  return { loss, backprop };
}

// A float32 ulp is at most 2^-23 of the value. scale is the magnitude that the error bound is relative to when
// it is larger than the value, as for a difference such as the backprop.
function close(actual, expected, ulps, scale) {
  return Math.abs(actual - expected) <= ulps * 2 ** -23 * Math.max(Math.abs(expected), scale);
}

function compare(name, actual, expected, { ulps, scale = 0 }, failures) {
  if (actual.length !== expected.length) {
    failures.push(name + ': length ' + actual.length + ', expected ' + expected.length);
    return;
  }
  for (let i = 0; i < expected.length; i += 1) {
    if (!close(actual[i], expected[i], ulps, scale)) {
      failures.push(name + '[' + i + ']: ' + actual[i] + ', expected ' + expected[i]);
      return;
    }
  }
}

// Deterministic inputs with lengths that leave vector tails on every instruction set.
function series(n, scale, offset) {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + offset) * scale);
}

function loadedAddons() {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n');
    return [...new Set(maps.map((line) => line.split(/\s+/).slice(5).join(' ')).filter((path) => path.endsWith('.node')))];
  } catch {
    return null;
  }
}

module.exports = function verify(nn) {
  const failures = [];

  // The bounds are the README's per-function bounds doubled, so that only a broken build fails here. The vitest
  // suite checks the exact bounds.
  const x = series(1003, 20, 0);
  compare('sigmoid', nn.sigmoid(x), Array.from(x, sigmoid64), { ulps: 4 }, failures);

  const rows = 7;
  const classes = 37;
  const logits = series(rows * classes, 8, 1);
  const probabilities = nn.softmax(logits, { shape: [rows, classes] });
  const labels = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r += 1) {
    labels[r * classes + ((r * 5) % classes)] = 0.75;
    labels[r * classes + ((r * 11 + 3) % classes)] = 0.25;
  }
  const backprop = new Float32Array(rows * classes);
  const loss = nn.softmaxCrossEntropyWithLogits({ labels, logits, shape: [rows, classes], backprop });
  const expectedLoss = [];
  for (let r = 0; r < rows; r += 1) {
    const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
    const rowLabels = Array.from(labels.subarray(r * classes, (r + 1) * classes));
    const reference = crossEntropy64(rowLabels, row);
    compare('softmax row ' + r, probabilities.subarray(r * classes, (r + 1) * classes), softmax64(row), { ulps: 16 }, failures);
    compare('backprop row ' + r, backprop.subarray(r * classes, (r + 1) * classes), reference.backprop, { ulps: 16, scale: 1 }, failures);
    expectedLoss.push(reference.loss);
  }
  compare('softmax cross-entropy loss', loss, expectedLoss, { ulps: 16, scale: Math.log(classes) }, failures);

  const info = nn.info();
  return { failures, info, addons: loadedAddons(), exports: Object.keys(nn).sort() };
};
`;

const CJS_CHECK = `const verify = require('./verify.cjs');
const nn = require('simd-nn');
console.log(JSON.stringify({ ...verify(nn), resolved: require.resolve('simd-nn') }));
`;

const ESM_CHECK = `import verify from './verify.cjs';
import * as nn from 'simd-nn';
import { sigmoid } from 'simd-nn';
if (sigmoid !== nn.sigmoid) throw new Error('named and namespace imports differ');
console.log(JSON.stringify({ ...verify(nn), resolved: import.meta.resolve('simd-nn') }));
`;

// Compiled by tsc against the package's own types, with no @types packages, then run. The @ts-expect-error
// lines fail the compilation if the types were missing or any.
const TS_CHECK = `import { info, promises, sigmoid, softmax, softmaxCrossEntropyWithLogits, type SoftmaxCrossEntropyArgs, type TensorLike } from 'simd-nn';

const input: TensorLike = [[2, 1, 0.1]];
const probabilities: Float32Array = softmax(input);
const backprop = new Float32Array(3);
const args: SoftmaxCrossEntropyArgs = { labels: [[1, 0, 0]], logits: input, backprop };
const loss: Float32Array = softmaxCrossEntropyWithLogits(args);
const half: number = sigmoid(new Float32Array([0]))[0]!;
const isa: 'avx512' | 'avx2' | 'scalar' = info().isa;
const pending: Promise<number> = promises.l2Loss([1, 2, 3]);
pending.then((value) => {
  if (value !== 7) {
    throw new Error('promises.l2Loss result is wrong: ' + String(value));
  }
});

if (Math.abs(probabilities[0]! - 0.659001) > 1e-6 || Math.abs(loss[0]! - 0.41703) > 1e-5) {
  throw new Error('softmax or cross-entropy result is wrong: ' + String(probabilities) + ' ' + String(loss));
}
if (Math.abs(backprop[0]! + 0.340999) > 1e-6 || half !== 0.5 || isa.length === 0) {
  throw new Error('backprop, sigmoid or info is wrong: ' + String(backprop));
}
if (half > 1) {
  // @ts-expect-error: a string is not a TensorLike.
  sigmoid('1, 2');
  // @ts-expect-error: softmaxCrossEntropyWithLogits requires logits.
  softmaxCrossEntropyWithLogits({ labels: [1] });
}
`;

const TS_CONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    outDir: 'out',
  },
  files: ['check-esm.mts', 'check-cjs.cts'],
};

const LOAD_FAILURE_CHECK = `
const { pathToFileURL } = require('node:url');
async function main() {
  const outcome = {};
  try {
    require('simd-nn');
    outcome.require = null;
  } catch (error) {
    outcome.require = { code: error.code, message: error.message };
  }
  try {
    await import('simd-nn');
    outcome.import = null;
  } catch (error) {
    outcome.import = { code: error.code, message: error.message };
  }
  console.log(JSON.stringify(outcome));
}
main();
`;

function createConsumer(tarball) {
  const project = mkdtempSync(join(tmpdir(), 'simd-nn-pack-'));
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'simd-nn-pack-test', private: true, version: '1.0.0' }, null, 2)}\n`);
  console.log(`# npm install --ignore-scripts ${relative(project, tarball)} in ${project}`);
  runOrExit('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project });

  writeFileSync(join(project, 'verify.cjs'), VERIFY_SOURCE);
  writeFileSync(join(project, 'check.cjs'), CJS_CHECK);
  writeFileSync(join(project, 'check.mjs'), ESM_CHECK);
  writeFileSync(join(project, 'check-esm.mts'), TS_CHECK);
  writeFileSync(join(project, 'check-cjs.cts'), TS_CHECK);
  writeFileSync(join(project, 'tsconfig.json'), `${JSON.stringify(TS_CONFIG, null, 2)}\n`);
  writeFileSync(join(project, 'load-failure.cjs'), LOAD_FAILURE_CHECK);
  return project;
}

/** Runs a check script with node (optionally under qemu) and returns its parsed JSON line, or null. */
function runCheck(name, project, script, { prefix = [], env = {} } = {}) {
  const [command, ...args] = [...prefix, process.execPath, script];
  const result = run(command, args, { cwd: project, env });
  const line = result.stdout.trim().split('\n').pop();
  try {
    if (result.status === 0) {
      return JSON.parse(line);
    }
  } catch {
    // Reported below with the output.
  }
  const stderr = result.stderr.split('\n').filter((text) => !text.includes("TCG doesn't support")).join('\n');
  fail(name, `exit code ${result.status}\n${result.stdout}${stderr}`);
  return null;
}

function checkComputation(name, outcome, installedPrebuild) {
  if (!outcome) {
    return;
  }
  check(`${name}: results match float64 references`, outcome.failures.length === 0, outcome.failures.join('\n'));
  check(`${name}: info() reports version ${packageJson.version}`, outcome.info.version === packageJson.version,
    JSON.stringify(outcome.info));
  if (outcome.addons) {
    check(`${name}: the loaded addon is the prebuild`, outcome.addons.length === 1 && outcome.addons[0] === installedPrebuild,
      `loaded: ${JSON.stringify(outcome.addons)}, expected ${installedPrebuild}`);
  }
  return outcome;
}

function checkConsumer(project, prebuildPaths) {
  const installed = join(project, 'node_modules', 'simd-nn');
  check('installed package has no build/ folder', !existsSync(join(installed, 'build')));
  const prebuilds = prebuildPaths.map((path) => join(installed, ...path.split('/')));
  check('installed package has its prebuild', prebuilds.every((path) => existsSync(path)), prebuilds.join('\n'));
  // node-gyp-build picks the glibc or musl flavour; on glibc Linux that is the .glibc.node file.
  const installedPrebuild = prebuilds.find((path) => !path.endsWith('.musl.node')) ?? prebuilds[0];

  const cjs = checkComputation('require', runCheck('require', project, 'check.cjs'), installedPrebuild);
  if (cjs) {
    check('require resolves dist/index.cjs', cjs.resolved === join(installed, 'dist', 'index.cjs'), cjs.resolved);
    const expected = ['info', 'l2Loss', 'l2Normalize', 'leakyRelu', 'logSigmoid', 'promises', 'relu', 'relu6',
      'sigmoid', 'sigmoidCrossEntropyWithLogits', 'silu', 'softmax', 'softmaxCrossEntropyWithLogits', 'softplus',
      'softsign', 'sparseSoftmaxCrossEntropyWithLogits', 'tanh'];
    check('require exports the documented functions', expected.every((name) => cjs.exports.includes(name)),
      `exports: ${cjs.exports.join(', ')}`);
    console.log(`# instruction set: ${cjs.info.isa} (available: ${cjs.info.available.join(', ')})`);
  }
  const esm = checkComputation('import', runCheck('import', project, 'check.mjs'), installedPrebuild);
  if (esm) {
    check('import resolves dist/index.js', esm.resolved.endsWith('/node_modules/simd-nn/dist/index.js'), esm.resolved);
  }

  const tsc = requireFromRepo.resolve('typescript/bin/tsc');
  const compiled = run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project });
  if (check('TypeScript compiles against the package types', compiled.status === 0, compiled.stdout + compiled.stderr)) {
    for (const output of ['check-esm.mjs', 'check-cjs.cjs']) {
      const result = run(process.execPath, [join('out', output)], { cwd: project });
      check(`TypeScript output ${output} runs`, result.status === 0, result.stdout + result.stderr);
    }
  }
  return { installedPrebuild, hostInfo: cjs ? cjs.info : null };
}

/**
 * Runs the CommonJS check on emulated CPUs: the prebuild must load and compute on an x86-64 CPU without AVX, and
 * choose AVX2 on one without AVX-512 when it was built with the x86 kernel sets.
 */
function checkEmulatedCpus(project, installedPrebuild, hostInfo) {
  const qemu = run('sh', ['-c', 'command -v qemu-x86_64 || true']).stdout.trim();
  if (process.arch !== 'x64' || process.platform !== 'linux' || !qemu) {
    console.log('# skipped the emulated-CPU checks: they need linux-x64 and qemu-x86_64 (Debian: qemu-user)');
    return;
  }
  const hasX86Sets = hostInfo !== null && hostInfo.available.includes('avx2');
  const cpus = [
    { cpu: 'Nehalem-v1', description: 'x86-64 CPU without AVX', isa: 'scalar' },
    { cpu: 'Haswell-v4', description: 'CPU with AVX2 but no AVX-512', isa: hasX86Sets ? 'avx2' : 'scalar' },
  ];
  for (const { cpu, description, isa } of cpus) {
    const name = `emulated ${description} (qemu -cpu ${cpu})`;
    const outcome = checkComputation(name, runCheck(name, project, 'check.cjs', { prefix: [qemu, '-cpu', cpu] }), installedPrebuild);
    if (outcome) {
      check(`${name}: uses ${isa}`, outcome.info.isa === isa, `info(): ${JSON.stringify(outcome.info)}`);
    }
  }
}

function checkLoadFailure(project) {
  const installed = join(project, 'node_modules', 'simd-nn');
  const hidden = join(installed, 'prebuilds.hidden');
  renameSync(join(installed, 'prebuilds'), hidden);
  try {
    const outcome = runCheck('loading without prebuilds', project, 'load-failure.cjs');
    if (!outcome) {
      return;
    }
    const libc = process.platform !== 'linux' ? null : (process.report.getReport().header.glibcVersionRuntime
      ? `glibc ${process.report.getReport().header.glibcVersionRuntime}` : 'musl');
    for (const style of ['require', 'import']) {
      const error = outcome[style];
      if (!check(`${style} without prebuilds throws`, error !== null)) {
        continue;
      }
      check(`${style} without prebuilds: code ERR_SIMD_NN_LOAD`, error.code === 'ERR_SIMD_NN_LOAD', JSON.stringify(error));
      const expected = [`${process.platform}-${process.arch}`, `Node.js ${process.version}`, 'SIMD_NN_BUILD_FROM_SOURCE=1',
        join(installed, 'scripts', 'install.mjs'), ...(libc ? [libc] : [])];
      const absent = expected.filter((text) => !error.message.includes(text));
      check(`${style} without prebuilds: message names platform, libc, Node.js and the fix`, absent.length === 0,
        `missing ${JSON.stringify(absent)} in:\n${error.message}`);
    }
    if (outcome.require) {
      console.log(`# the load error:\n${outcome.require.message.replace(/^/gm, '#   ')}`);
    }
  } finally {
    renameSync(hidden, join(installed, 'prebuilds'));
  }
}

function checkInstallScript(project) {
  const installed = join(project, 'node_modules', 'simd-nn');
  const script = join(installed, 'scripts', 'install.mjs');
  const result = run(process.execPath, [script], { cwd: installed, env: { npm_config_local_prefix: project } });
  check('install script does nothing when the prebuild loads', result.status === 0 && !existsSync(join(installed, 'build')),
    `exit code ${result.status}\n${result.stdout}${result.stderr}`);
}

/** Builds from source in the installed package with the README's command, then checks that the build loads. */
function checkSourceBuild(project, prebuildPaths) {
  const installed = join(project, 'node_modules', 'simd-nn');
  console.log('# SIMD_NN_BUILD_FROM_SOURCE=1 npm rebuild simd-nn (downloads cmake-js through npm exec)');
  const rebuild = run('npm', ['rebuild', 'simd-nn', '--foreground-scripts'], { cwd: project, env: { SIMD_NN_BUILD_FROM_SOURCE: '1' } });
  const built = join(installed, 'build', 'Release', 'simd_nn.node');
  if (!check('source build: npm rebuild builds build/Release/simd_nn.node', rebuild.status === 0 && existsSync(built),
    `exit code ${rebuild.status}\n${rebuild.stdout}${rebuild.stderr}`)) {
    return;
  }
  const outcome = runCheck('source build', project, 'check.cjs');
  if (outcome) {
    check('source build: results match float64 references', outcome.failures.length === 0, outcome.failures.join('\n'));
    check('source build: the loaded addon is build/Release/simd_nn.node',
      outcome.addons === null || (outcome.addons.length === 1 && outcome.addons[0] === built), JSON.stringify(outcome.addons));
  }
  rmSync(join(installed, 'build'), { recursive: true, force: true });
  check('prebuild still present after the source build', prebuildPaths.every((path) => existsSync(join(installed, ...path.split('/')))));
}

function main() {
  ensurePrebuild();
  const scratch = mkdtempSync(join(tmpdir(), 'simd-nn-tarball-'));
  mkdirSync(scratch, { recursive: true });
  const { tarball, prebuildPaths } = pack(scratch);
  const project = createConsumer(tarball);
  try {
    const { installedPrebuild, hostInfo } = checkConsumer(project, prebuildPaths);
    checkEmulatedCpus(project, installedPrebuild, hostInfo);
    checkInstallScript(project);
    checkLoadFailure(project);
    if (options['source-build']) {
      checkSourceBuild(project, prebuildPaths);
    }
  } finally {
    if (options.keep) {
      console.log(`# kept ${project} and ${scratch}`);
    } else {
      rmSync(project, { recursive: true, force: true });
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  console.log(`pack: ${results.passed} passed, ${results.failed} failed`);
  process.exitCode = results.failed === 0 ? 0 : 1;
}

main();
