// Builds and runs the exhaustive float32 accuracy sweep (tools/accuracy/sweep.cpp): `npm run accuracy`.
//
// The sweep is a standalone C++ program linked with the kernel sets, built with CMake in build/accuracy
// (SIMD_NN_BUILD_ACCURACY=ON); it needs no Node.js headers. Arguments after `--` go to the program:
//   npm run accuracy -- --stride 61    every 61st bit pattern only, for a quick check
//   npm run accuracy -- --threads 1    one worker thread
// The full sweep covers all 2^32 inputs and takes a few minutes on two cores.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildDir = join(root, 'build', 'accuracy');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) {
    console.error(`Failed to run ${command}: ${result.error.message}. Is CMake installed and on PATH?`);
    process.exit(1);
  }
  if (result.status !== 0) {
    process.exit(result.status ?? 1);
  }
}

run('cmake', ['-S', '.', '-B', buildDir, '-DSIMD_NN_BUILD_ACCURACY=ON', '-DCMAKE_BUILD_TYPE=Release']);
run('cmake', ['--build', buildDir, '--target', 'simd_nn_accuracy', '--parallel']);
run(join(buildDir, 'simd_nn_accuracy'), process.argv.slice(2));
