#!/usr/bin/env node
/**
 * Runs cmake-js in the place of node-gyp for prebuildify 6, which can only drive node-gyp.
 *
 * prebuildify calls `<node-gyp> rebuild --target=<version> --devdir=<dir> --arch=<arch> --release|--debug`.
 * This shim runs `cmake-js rebuild` with `--arch` and `--debug` kept. It drops `--target`, because cmake-js
 * reads that flag as the name of a CMake target, and drops `--devdir` and `--release`, which cmake-js does not
 * use: a Node-API build takes its headers from the node-api-headers package, not from a download.
 *
 * After the build it copies the unstripped addon to build/unstripped/, because prebuildify strips the file in
 * build/Release and then moves it into prebuilds/. scripts/check-isa-isolation.mjs needs the symbols.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const [command, ...flags] = process.argv.slice(2);
if (command !== 'rebuild') {
  console.error(`cmake-js-shim: expected the command "rebuild" from prebuildify, received ${JSON.stringify(command)}`);
  process.exit(2);
}

const forwardedFlags = flags.filter((flag) => flag.startsWith('--arch=') || flag === '--debug');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'rebuild', ...forwardedFlags];
console.error(`cmake-js-shim: node ${args.join(' ')}`);

const result = spawnSync(process.execPath, args, { cwd: packageRoot, stdio: 'inherit' });
if (result.error) {
  throw result.error;
}
if (result.status !== 0) {
  process.exit(result.status ?? 1);
}

const configuration = forwardedFlags.includes('--debug') ? 'Debug' : 'Release';
const outputDir = join(packageRoot, 'build', configuration);
const unstrippedDir = join(packageRoot, 'build', 'unstripped');
mkdirSync(unstrippedDir, { recursive: true });
for (const name of readdirSync(outputDir).filter((file) => file.endsWith('.node'))) {
  copyFileSync(join(outputDir, name), join(unstrippedDir, name));
}
