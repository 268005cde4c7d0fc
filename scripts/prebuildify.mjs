/**
 * Builds the Node-API prebuild for this platform and architecture into prebuilds/<platform>-<arch>/, for
 * example prebuilds/linux-x64/node.napi.glibc.node, which node-gyp-build finds when build/ is absent.
 *
 * prebuildify builds through scripts/cmake-js-shim.mjs in place of node-gyp. The shim is started as
 * `"<node>" "<shim>"` through a shell on every platform, so this also works on Windows, where a .mjs file is
 * not executable. Extra arguments go to prebuildify, for example `-- --arch=arm64`.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const shim = join(packageRoot, 'scripts', 'cmake-js-shim.mjs');
const prebuildifyBin = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const args = [
  prebuildifyBin,
  '--napi',
  '--strip',
  '--tag-libc',
  '--name',
  'node.napi',
  `--node-gyp=${JSON.stringify(process.execPath)} ${JSON.stringify(shim)}`,
  ...process.argv.slice(2),
];

// PREBUILD_SHELL makes prebuildify spawn the node-gyp command through a shell, which splits the quoted words.
const shell = process.platform === 'win32' ? 'cmd.exe' : '/bin/sh';
const result = spawnSync(process.execPath, args, {
  cwd: packageRoot,
  stdio: 'inherit',
  env: { ...process.env, PREBUILD_SHELL: shell },
});
if (result.error) {
  throw result.error;
}
process.exit(result.status ?? 1);
