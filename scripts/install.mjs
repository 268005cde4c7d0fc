/**
 * The package's install script. It builds the addon from source into build/Release when
 * SIMD_NN_BUILD_FROM_SOURCE=1 is set or when no shipped binary loads on this machine, and otherwise does nothing.
 *
 * npm may skip this script for dependencies (allowScripts), and the package does not need it where a prebuild
 * fits. The same file can be run by hand: SIMD_NN_BUILD_FROM_SOURCE=1 node node_modules/simd-nn/scripts/install.mjs
 *
 * The build needs a C++17 compiler and CMake 3.15 or later. It runs cmake-js from the project's node_modules
 * when it is installed there, and otherwise through `npm exec`, which downloads the version range that this
 * package lists in devDependencies.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireFromPackage = createRequire(join(packageRoot, 'package.json'));
const packageJson = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));

function log(message) {
  console.error(`simd-nn: ${message}`);
}

function samePath(a, b) {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** Returns null when a binary in build/ or prebuilds/ loads, else the reason it does not. */
function findLoadFailure() {
  try {
    const nodeGypBuild = requireFromPackage('node-gyp-build');
    requireFromPackage(nodeGypBuild.path(packageRoot));
    return null;
  } catch (error) {
    return error instanceof Error ? error.message.trim() : String(error);
  }
}

/** Returns the command and arguments that run cmake-js with the given arguments. */
function cmakeJsCommand(args) {
  try {
    return { command: process.execPath, args: [requireFromPackage.resolve('cmake-js/bin/cmake-js'), ...args] };
  } catch {
    // cmake-js is a devDependency of simd-nn, so a project that uses simd-nn usually lacks it.
  }
  const spec = `cmake-js@${packageJson.devDependencies['cmake-js']}`;
  const npmArgs = ['exec', '--yes', `--package=${spec}`, '--', 'cmake-js', ...args];
  // npm sets npm_execpath to its own CLI script when it runs this file as a lifecycle script.
  if (process.env.npm_execpath && process.env.npm_execpath.endsWith('.js')) {
    return { command: process.execPath, args: [process.env.npm_execpath, ...npmArgs] };
  }
  return { command: process.platform === 'win32' ? 'npm.cmd' : 'npm', args: npmArgs, shell: process.platform === 'win32' };
}

function buildFromSource() {
  const { command, args, shell = false } = cmakeJsCommand(['compile']);
  log(`building from source in ${packageRoot}: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: packageRoot, stdio: 'inherit', shell });
  if (result.error || result.status !== 0) {
    const cause = result.error ? result.error.message : `exit code ${result.status}`;
    log(`the build from source failed (${cause}). It needs a C++17 compiler (g++ or clang++; on macOS the ` +
      'Xcode command line tools), CMake 3.15 or later, and cmake-js, which npm downloads unless the project ' +
      'has it installed. The output above shows the first error.');
    return false;
  }
  const failure = findLoadFailure();
  if (failure) {
    log(`the addon was built but does not load: ${failure}`);
    return false;
  }
  log('built and loaded build/Release/simd_nn.node');
  return true;
}

function main() {
  // In a clone of the repository npm runs this script for the project itself, and `prepare` builds everything.
  const localPrefix = process.env.npm_config_local_prefix;
  if (localPrefix && samePath(localPrefix, packageRoot)) {
    return true;
  }

  const requested = ['1', 'true'].includes((process.env.SIMD_NN_BUILD_FROM_SOURCE ?? '').toLowerCase());
  if (requested) {
    log('SIMD_NN_BUILD_FROM_SOURCE is set');
    return buildFromSource();
  }

  const failure = findLoadFailure();
  if (failure === null) {
    return true;
  }
  log(`no shipped binary loads on ${process.platform}-${process.arch} with Node.js ${process.version}: ${failure}`);
  return buildFromSource();
}

process.exitCode = main() ? 0 : 1;
