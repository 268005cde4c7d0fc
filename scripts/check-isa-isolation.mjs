/**
 * Checks that AVX, AVX2 and AVX-512 instructions in the built addon occur only inside the functions of the
 * kernel namespaces simd_nn::avx2 and simd_nn::avx512, which the dispatcher calls only after checking the CPU.
 *
 * This guards against the ODR trap: an inline function, template or standard-library function compiled with
 * -mavx2 or -mavx512f in a kernel file can become the one copy the linker keeps for every file, and then the
 * baseline code faults with SIGILL on a CPU without those instructions.
 *
 * Usage: node scripts/check-isa-isolation.mjs [--compare PREBUILD] [ADDON]
 *   ADDON      an unstripped .node file; default build/unstripped/simd_nn.node (written by the prebuildify shim),
 *              else build/Release/simd_nn.node.
 *   --compare  also check that PREBUILD, the stripped file that ships, has the same .text bytes as ADDON.
 *   --self-test  build two small libraries with g++, one with the ODR trap and one without, and check that
 *              this script rejects the first and accepts the second.
 *
 * An instruction counts as AVX-class when it has a VEX (C4, C5), EVEX (62) or XOP (8F) encoding, or names a
 * ymm, zmm, k mask or xmm16-31 register. Needs objdump, readelf and objcopy from GNU binutils, on ELF files.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

// Itanium-mangled prefixes of functions in the kernel namespaces, including const members (K) and local
// entities such as lambdas (_ZZ): 7simd_nn then 4avx2 or 6avx512.
const AVX2_FUNCTION = /^_ZZ?N[rVKO]*7simd_nn4avx2/;
const AVX512_FUNCTION = /^_ZZ?N[rVKO]*7simd_nn6avx512/;

const LEGACY_PREFIXES = new Set([0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67]);
const WIDE_REGISTER = /%(?:ymm\d+|zmm\d+|k[0-7]\b|xmm(?:1[6-9]|2\d|3[01])\b)/;
const AVX512_REGISTER = /%(?:zmm\d+|k[0-7]\b|[xy]mm(?:1[6-9]|2\d|3[01])\b)/;

/** Returns 'vex', 'evex', 'xop' or null for the encoding of one instruction, from its bytes. */
function classifyEncoding(bytes) {
  let i = 0;
  while (i < bytes.length && LEGACY_PREFIXES.has(bytes[i])) {
    i += 1;
  }
  const opcode = bytes[i];
  if (opcode === 0xc4 || opcode === 0xc5) {
    return 'vex';
  }
  if (opcode === 0x62) {
    return 'evex';
  }
  // 8F is also POP r/m64, whose ModRM byte has a reg field of 0, so its low five bits are below 8.
  if (opcode === 0x8f && i + 1 < bytes.length && (bytes[i + 1] & 0x1f) >= 8) {
    return 'xop';
  }
  return null;
}

/** Splits `objdump -d -w` output into functions, each with its instructions that use AVX-class encodings. */
function scanDisassembly(text) {
  const functions = [];
  let current = null;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (header) {
      current = { name: header[1], instructions: 0, avx: [] };
      functions.push(current);
      continue;
    }
    const instruction = /^\s*([0-9a-f]+):\t([0-9a-f ]+)\t(.*)$/.exec(line);
    if (!instruction || !current) {
      continue;
    }
    const bytes = instruction[2].trim().split(/\s+/).map((byte) => parseInt(byte, 16));
    const assembly = instruction[3].trim();
    current.instructions += 1;
    const encoding = classifyEncoding(bytes);
    if (encoding || WIDE_REGISTER.test(assembly)) {
      const evex = encoding === 'evex' || AVX512_REGISTER.test(assembly);
      current.avx.push({ address: instruction[1], assembly, evex });
    }
  }
  return functions;
}

function run(command, args) {
  return execFileSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
}

function demangle(names) {
  if (names.length === 0) {
    return [];
  }
  const result = spawnSync('c++filt', [], { input: names.join('\n'), encoding: 'utf8' });
  if (result.status !== 0) {
    return names;
  }
  return result.stdout.trimEnd().split('\n');
}

function hasSymbolTable(file) {
  return /\s\.symtab\s/.test(run('readelf', ['-S', '-W', file]));
}

/** Returns the violations in one addon: functions whose instructions exceed what their namespace allows. */
function findViolations(file) {
  const functions = scanDisassembly(run('objdump', ['-d', '-w', file]));
  const counts = { baseline: 0, avx2: 0, avx512: 0, instructions: 0 };
  const violations = [];
  for (const fn of functions) {
    counts.instructions += fn.instructions;
    if (AVX512_FUNCTION.test(fn.name)) {
      counts.avx512 += 1;
    } else if (AVX2_FUNCTION.test(fn.name)) {
      counts.avx2 += 1;
      const avx512 = fn.avx.filter((entry) => entry.evex);
      if (avx512.length > 0) {
        violations.push({ name: fn.name, rule: 'AVX-512 in the AVX2 kernel set', found: avx512 });
      }
    } else {
      counts.baseline += 1;
      if (fn.avx.length > 0) {
        violations.push({ name: fn.name, rule: 'AVX-class instructions outside the AVX2 and AVX-512 kernel sets', found: fn.avx });
      }
    }
  }
  const names = demangle(violations.map((violation) => violation.name));
  violations.forEach((violation, index) => {
    violation.demangled = names[index];
  });
  return { counts, violations };
}

function report(file, { counts, violations }) {
  const displayPath = relative(process.cwd(), file) || file;
  console.log(`${displayPath}: ${counts.instructions} instructions in ${counts.baseline} baseline functions, ` +
    `${counts.avx2} in simd_nn::avx2, ${counts.avx512} in simd_nn::avx512`);
  if (counts.avx2 + counts.avx512 === 0) {
    console.log('  NOTE: no function of the AVX2 or AVX-512 kernel sets found; was the addon built without them?');
  }
  for (const violation of violations) {
    console.log(`  FAIL ${violation.demangled}: ${violation.rule}, ${violation.found.length} instructions, first:`);
    for (const entry of violation.found.slice(0, 3)) {
      console.log(`    ${entry.address}: ${entry.assembly}`);
    }
  }
  if (violations.length === 0) {
    console.log('  ok: AVX-class instructions appear only in their kernel namespaces');
  }
}

function textSection(file, scratch) {
  const out = join(scratch, 'text.bin');
  run('objcopy', ['-O', 'binary', '--only-section=.text', file, out]);
  return readFileSync(out);
}

/** Checks that the stripped prebuild has the same code as the unstripped addon that was checked. */
function compareText(addon, prebuild) {
  const scratch = mkdtempSync(join(tmpdir(), 'simd-nn-isa-'));
  try {
    const same = textSection(addon, scratch).equals(textSection(prebuild, scratch));
    const displayPath = relative(process.cwd(), prebuild) || prebuild;
    console.log(same
      ? `${displayPath}: same .text bytes as the checked addon`
      : `FAIL ${displayPath}: its .text differs from the checked addon, so the check above does not cover it`);
    return same;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function checkAddon(file, prebuild) {
  if (!existsSync(file)) {
    console.error(`check-isa-isolation: ${file} not found. Build it first: npm run prebuildify (or npm run build:native).`);
    return false;
  }
  if (!hasSymbolTable(file)) {
    console.error(`check-isa-isolation: ${file} has no symbol table (stripped?); pass the unstripped addon, ` +
      'which the prebuildify shim copies to build/unstripped/.');
    return false;
  }
  const result = findViolations(file);
  report(file, result);
  let ok = result.violations.length === 0;
  if (prebuild) {
    ok = compareText(file, prebuild) && ok;
  }
  return ok;
}

// The self-test: `shared.h` has an inline function that GCC vectorizes. The AVX2 file is linked first, so the
// linker keeps its copy for both callers: the trap. With the function in the AVX2 file's own namespace there is
// one copy per namespace and no trap.
const SELF_TEST_HEADER = `
#include <cstddef>
namespace SHARED_NAMESPACE {
__attribute__((noinline)) inline float Sum(const float* x, std::size_t n) {
  float s[8] = {};
  for (std::size_t i = 0; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += x[i + j] * x[i + j];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}
}
`;
const SELF_TEST_AVX2 = `#include "shared.h"
namespace simd_nn { namespace avx2 { float Run(const float* x, std::size_t n) { return SHARED_NAMESPACE::Sum(x, n); } } }
`;
const SELF_TEST_SCALAR = `#include "shared.h"
namespace simd_nn { namespace scalar { float Run(const float* x, std::size_t n) { return SHARED_NAMESPACE::Sum(x, n); } } }
`;

function buildSelfTestLibrary(dir, name, avx2Namespace) {
  const compile = (source, flags) => {
    const object = join(dir, `${name}-${source}.o`);
    run('g++', ['-std=c++17', '-O2', '-fPIC', ...flags, `-DSHARED_NAMESPACE=${source === 'avx2' ? avx2Namespace : 'shared'}`,
      '-c', join(dir, `${source}.cpp`), '-o', object]);
    return object;
  };
  const avx2Object = compile('avx2', ['-mavx2', '-mfma']);
  const scalarObject = compile('scalar', []);
  const library = join(dir, `${name}.so`);
  run('g++', ['-shared', avx2Object, scalarObject, '-o', library]);
  return library;
}

function selfTest() {
  const dir = mkdtempSync(join(tmpdir(), 'simd-nn-isa-self-test-'));
  try {
    writeFileSync(join(dir, 'shared.h'), SELF_TEST_HEADER);
    writeFileSync(join(dir, 'avx2.cpp'), SELF_TEST_AVX2);
    writeFileSync(join(dir, 'scalar.cpp'), SELF_TEST_SCALAR);

    const trapped = findViolations(buildSelfTestLibrary(dir, 'trapped', 'shared'));
    const isolated = findViolations(buildSelfTestLibrary(dir, 'isolated', 'simd_nn::avx2'));
    const caught = trapped.violations.some((violation) => violation.demangled.startsWith('shared::Sum'));
    const clean = isolated.violations.length === 0 && isolated.counts.avx2 >= 2;
    console.log(`self-test: shared inline compiled with -mavx2 ${caught ? 'rejected' : 'NOT rejected'}; ` +
      `same function inside simd_nn::avx2 ${clean ? 'accepted' : 'NOT accepted'}`);
    return caught && clean;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(argv) {
  if (argv.includes('--self-test')) {
    return selfTest();
  }
  let prebuild = null;
  const files = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--compare') {
      prebuild = argv[i + 1];
      i += 1;
    } else {
      files.push(argv[i]);
    }
  }
  const unstripped = join(packageRoot, 'build', 'unstripped', 'simd_nn.node');
  const file = files[0] ?? (existsSync(unstripped) ? unstripped : join(packageRoot, 'build', 'Release', 'simd_nn.node'));
  return checkAddon(file, prebuild);
}

process.exitCode = main(process.argv.slice(2)) ? 0 : 1;
