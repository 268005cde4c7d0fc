/**
 * Prints the glibc and libstdc++ symbol versions that Linux addons need, and fails when a need exceeds the
 * limit, because a prebuild that needs a newer glibc or libstdc++ than a user's system has fails to load there.
 *
 * Usage: node scripts/check-glibc-needs.mjs [--max-glibc 2.17] [--max-glibcxx 3.4.21] [FILE...]
 *   FILE  .node files; default every *.glibc.node file in prebuilds/linux-<arch>/.
 *
 * The default limits: GLIBC_2.17 is the glibc of Red Hat Enterprise Linux 7 and the first glibc for arm64.
 * GLIBCXX_3.4.21 is the libstdc++ of GCC 5, the first with the C++11 std::string that node-addon-api uses.
 * Reads the dynamic symbol table with objdump -T.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'max-glibc': { type: 'string', default: '2.17' },
    'max-glibcxx': { type: 'string', default: '3.4.21' },
  },
});

function compareVersions(a, b) {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i += 1) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) {
      return difference;
    }
  }
  return 0;
}

function defaultFiles() {
  const prebuilds = join(packageRoot, 'prebuilds');
  if (!existsSync(prebuilds)) {
    return [];
  }
  return readdirSync(prebuilds)
    .filter((folder) => folder.startsWith('linux-'))
    .flatMap((folder) => readdirSync(join(prebuilds, folder))
      .filter((file) => file.endsWith('.glibc.node'))
      .map((file) => join(prebuilds, folder, file)));
}

/** Returns a map from version-tag family (GLIBC, GLIBCXX, CXXABI, GCC) to a map from version to symbols. */
function readNeeds(file) {
  const needs = new Map();
  const dump = execFileSync('objdump', ['-T', file], { encoding: 'utf8' });
  for (const line of dump.split('\n')) {
    // An undefined dynamic symbol: "0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.14) memcpy".
    const match = /\*UND\*\s+[0-9a-f]+\s+\(?([A-Z]+)_([0-9.]+)\)?\s+(\S+)/.exec(line);
    if (!match) {
      continue;
    }
    const [, family, version, symbol] = match;
    if (!needs.has(family)) {
      needs.set(family, new Map());
    }
    const versions = needs.get(family);
    versions.set(version, [...(versions.get(version) ?? []), symbol]);
  }
  return needs;
}

function checkFile(file) {
  const limits = { GLIBC: options['max-glibc'], GLIBCXX: options['max-glibcxx'] };
  const needs = readNeeds(file);
  let ok = true;
  console.log(`${relative(process.cwd(), file) || file}:`);
  for (const family of ['GLIBC', 'GLIBCXX', 'CXXABI', 'GCC']) {
    const versions = needs.get(family);
    if (!versions) {
      continue;
    }
    const sorted = [...versions.keys()].sort(compareVersions);
    const highest = sorted[sorted.length - 1];
    const limit = limits[family];
    const over = limit !== undefined && compareVersions(highest, limit) > 0;
    const needing = versions.get(highest);
    const symbols = needing.slice(0, 2).join(', ') + (needing.length > 2 ? ` and ${needing.length - 2} more` : '');
    const limitText = limit === undefined ? '' : `, limit ${family}_${limit}`;
    console.log(`  ${over ? 'FAIL' : 'ok  '} ${family}: ${sorted.join(' ')} (highest ${family}_${highest}${limitText}; ` +
      `needed by ${symbols})`);
    ok = ok && !over;
  }
  if (needs.size === 0) {
    console.log('  no versioned symbols (a musl build, or not linked against glibc)');
  }
  return ok;
}

const files = positionals.length > 0 ? positionals : defaultFiles();
if (files.length === 0) {
  console.error('check-glibc-needs: no Linux glibc prebuild found under prebuilds/. Run npm run prebuildify first.');
  process.exitCode = 1;
} else {
  process.exitCode = files.map(checkFile).every(Boolean) ? 0 : 1;
}
