/**
 * Loads the native addon once per Node.js environment (the main thread and each worker), hands it the error
 * factory, and reports how the instruction-set request in SIMD_NN_ISA was met.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debuglog } from 'node:util';

import { createError } from './errors';

const debug = debuglog('simd-nn');
const requireFromHere = createRequire(import.meta.url);

/** Instruction-set names, best first. */
export type IsaName = 'avx512' | 'avx2' | 'scalar';

/** The native report on the kernel set in use and the SIMD_NN_ISA request. */
export interface NativeInfo {
  isa: IsaName;
  available: IsaName[];
  requested: string;
  requestStatus: 'none' | 'honored' | 'unavailable' | 'invalid';
}

/** The native functions. Each re-checks what it relies on and writes nothing when it throws. */
export interface Binding {
  setErrorFactory(factory: (code: string, message: string) => Error): void;
  info(): NativeInfo;
  // Returns true once per process: to the first caller after the addon is loaded.
  claimIsaWarning(): boolean;
  isDetached(view: Float32Array | Int32Array): boolean;
  relu(x: Float32Array, out: Float32Array): void;
  sigmoid(x: Float32Array, out: Float32Array): void;
  tanh(x: Float32Array, out: Float32Array): void;
  relu6(x: Float32Array, out: Float32Array): void;
  leakyRelu(x: Float32Array, out: Float32Array, alpha: number): void;
  softplus(x: Float32Array, out: Float32Array): void;
  logSigmoid(x: Float32Array, out: Float32Array): void;
  softsign(x: Float32Array, out: Float32Array): void;
  silu(x: Float32Array, out: Float32Array, beta: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, classes: number, inner: number): void;
  softmaxCrossEntropy(
    labels: Float32Array,
    logits: Float32Array,
    loss: Float32Array,
    backprop: Float32Array | null,
    labelsRows: number,
    labelsClasses: number,
    labelsInner: number,
    logitsRows: number,
    logitsClasses: number,
    logitsInner: number,
    backpropInner: number,
  ): void;
  sparseSoftmaxCrossEntropy(
    labels: Int32Array,
    logits: Float32Array,
    loss: Float32Array,
    backprop: Float32Array | null,
    rows: number,
    classes: number,
  ): void;
  sigmoidCrossEntropy(labels: Float32Array, logits: Float32Array, out: Float32Array): void;
  l2Normalize(x: Float32Array, out: Float32Array, rows: number, classes: number, inner: number, epsilon: number): void;
  l2Loss(t: Float32Array): number;
  // Promise versions: the same arguments and checks, run on the libuv thread pool.
  reluAsync(x: Float32Array, out: Float32Array): Promise<void>;
  sigmoidAsync(x: Float32Array, out: Float32Array): Promise<void>;
  tanhAsync(x: Float32Array, out: Float32Array): Promise<void>;
  relu6Async(x: Float32Array, out: Float32Array): Promise<void>;
  leakyReluAsync(x: Float32Array, out: Float32Array, alpha: number): Promise<void>;
  softplusAsync(x: Float32Array, out: Float32Array): Promise<void>;
  logSigmoidAsync(x: Float32Array, out: Float32Array): Promise<void>;
  softsignAsync(x: Float32Array, out: Float32Array): Promise<void>;
  siluAsync(x: Float32Array, out: Float32Array, beta: number): Promise<void>;
  softmaxAsync(x: Float32Array, out: Float32Array, rows: number, classes: number, inner: number): Promise<void>;
  softmaxCrossEntropyAsync(...args: Parameters<Binding['softmaxCrossEntropy']>): Promise<void>;
  sparseSoftmaxCrossEntropyAsync(...args: Parameters<Binding['sparseSoftmaxCrossEntropy']>): Promise<void>;
  sigmoidCrossEntropyAsync(labels: Float32Array, logits: Float32Array, out: Float32Array): Promise<void>;
  l2NormalizeAsync(...args: Parameters<Binding['l2Normalize']>): Promise<void>;
  l2LossAsync(t: Float32Array): Promise<number>;
  testingSetIsa(name: string): boolean;
  testingExp(x: Float32Array, out: Float32Array): void;
  testingReadMxcsr(): number;
}

/** The package root: the folder above lib/ (sources) or dist/ (the built package). */
export const packageRoot = fileURLToPath(new URL('..', import.meta.url));

function describeLibc(): string {
  if (process.platform !== 'linux') {
    return '';
  }
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? ` (glibc ${header.glibcVersionRuntime})` : ' (musl)';
}

/** Lists the prebuilds that ship with the package, as "linux-x64 (glibc)", from the file names under prebuilds/. */
function listShippedPrebuilds(): string[] {
  const shipped: string[] = [];
  try {
    for (const folder of readdirSync(join(packageRoot, 'prebuilds'))) {
      for (const file of readdirSync(join(packageRoot, 'prebuilds', folder))) {
        // prebuildify names them node.napi[.<libc>].node.
        const libc = /\.(glibc|musl)\.node$/.exec(file)?.[1];
        shipped.push(libc ? `${folder} (${libc})` : folder);
      }
    }
  } catch {
    // No prebuilds/ folder: nothing ships.
  }
  return shipped;
}

function explainLoadFailure(cause: unknown): Error {
  const platform = `${process.platform}-${process.arch}${describeLibc()}`;
  const reason = cause instanceof Error ? cause.message.trim() : String(cause);

  // Node.js refuses every addon under --no-addons, and under the permission model without --allow-addons.
  // Rebuilding cannot help there.
  if ((cause as { code?: unknown } | undefined)?.code === 'ERR_DLOPEN_DISABLED') {
    const lines = [
      `simd-nn could not load its native addon: this Node.js process does not allow native addons (${reason}).`,
      'Start Node.js without --no-addons, and with --allow-addons if you use the permission model ' +
        '(--experimental-permission or --permission).',
    ];
    const error = new Error(lines.join('\n'), { cause });
    (error as Error & { code: string }).code = 'ERR_SIMD_NN_LOAD';
    return error;
  }

  // node-gyp-build throws this when neither build/ nor prebuilds/ has a binary for this platform.
  const noneFits = reason.startsWith('No native build was found');
  const shipped = listShippedPrebuilds();
  const installScript = join(packageRoot, 'scripts', 'install.mjs');
  const lines = [
    `simd-nn could not load its native addon on ${platform} with Node.js ${process.version} ` +
      `(Node-API ${process.versions.napi}).`,
    `It looked in build/Release, build/Debug and prebuilds/${process.platform}-${process.arch} under ${packageRoot}.`,
    `Reason: ${reason}`,
    `Prebuilt binaries in this package: ${shipped.length > 0 ? shipped.join(', ') : 'none'}.`,
  ];
  if (!noneFits) {
    lines.push(
      'A binary was found but did not load. The Linux prebuilds need glibc 2.17 or later and libstdc++ from ' +
        'GCC 5 or later (GLIBCXX_3.4.21); on musl, or with older libraries, build from source.',
    );
  }
  lines.push(
    'To build the addon from source (needs a C++17 compiler and CMake 3.15 or later; npm downloads cmake-js):',
    '  SIMD_NN_BUILD_FROM_SOURCE=1 npm rebuild simd-nn',
    'If npm skips the install script of simd-nn, approve it with `npm install-scripts approve simd-nn`, or run ' +
      'the script directly:',
    `  SIMD_NN_BUILD_FROM_SOURCE=1 node ${installScript}`,
  );
  const error = new Error(lines.join('\n'), { cause });
  (error as Error & { code: string }).code = 'ERR_SIMD_NN_LOAD';
  return error;
}

function emitIsaWarning(info: NativeInfo): void {
  if (info.requestStatus === 'invalid') {
    process.emitWarning(
      `SIMD_NN_ISA="${info.requested}" is not an instruction set simd-nn knows (avx512, avx2, scalar); ` +
        `using ${info.isa}, the best this CPU supports.`,
      { code: 'SIMD_NN_ISA_INVALID' },
    );
  } else if (info.requestStatus === 'unavailable') {
    process.emitWarning(
      `SIMD_NN_ISA="${info.requested}" requests an instruction set this CPU or build does not support; ` +
        `using ${info.isa}, the best available (${info.available.join(', ')}).`,
      { code: 'SIMD_NN_ISA_UNAVAILABLE' },
    );
  }
}

function loadBinding(): Binding {
  let binding: Binding;
  let binaryPath: string;
  try {
    const nodeGypBuild = requireFromHere('node-gyp-build') as { path(root: string): string };
    binaryPath = nodeGypBuild.path(packageRoot);
    binding = requireFromHere(binaryPath) as Binding;
  } catch (cause) {
    throw explainLoadFailure(cause);
  }

  binding.setErrorFactory(createError as (code: string, message: string) => Error);
  const info = binding.info();
  debug('loaded %s: isa %s, available %j, SIMD_NN_ISA %j (%s)', binaryPath, info.isa, info.available,
    info.requested, info.requestStatus);
  // The choice is process-wide, so only the first environment (main thread or worker) to load warns about it.
  if (binding.claimIsaWarning()) {
    emitIsaWarning(info);
  }
  return binding;
}

/** The native binding of this environment. */
export const binding: Binding = loadBinding();
