#!/usr/bin/env bash
# Builds the addon another way into build-NAME/ and runs the test suite on that build.
#
# Usage: test/builds/run.sh NAME, where NAME is one of
#   clang        clang++ with the project's flags (CXX_CLANG names another clang++ binary)
#   gcc-O1       g++ at -O1 instead of -O2
#   gcc-znver3   g++ at -O2 tuned for AMD Zen 3 (-mtune=znver3, which -march=native implies on Zen 3 to 5)
#   avx512-emulated
#                g++ with the AVX-512 set's intrinsics replaced by plain C++, so that the set's tests run on a
#                CPU with AVX2 but without AVX-512 (test/avx512-emulation/intrinsics.h). It also runs the
#                guard-page check on that build.
#
# A second compiler keeps the sources building where the default one is not GCC (macOS, FreeBSD). The GCC
# variants check the code GCC makes of the kernels under other flags: GCC 12.2 at -O1, -Os and with
# -mtune=znver3 once counted entries at a row maximum from stale stack memory, while the default build was
# right. The run swaps the other build into build/Release for the suite, and puts the former file back
# afterwards (see below). Exits non-zero if the build or a test fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

name="${1:-}"
if [ -z "$name" ]; then
  echo "Missing build name: expected clang, gcc-O1, gcc-znver3 or avx512-emulated (test/builds/run.sh clang)." >&2
  exit 2
fi

# Two runs in one checkout would swap build/Release/simd_nn.node under each other, so they take turns.
mkdir -p build/Release
exec 9>build/.builds-run.lock
if command -v flock >/dev/null; then
  flock 9
fi
compiler=g++
optimize="-O2"
extra_options=()
case "$name" in
  clang)
    compiler="${CXX_CLANG:-clang++}"
    ;;
  gcc-O1)
    optimize="-O1"
    ;;
  gcc-znver3)
    optimize="-O2;-mtune=znver3"
    ;;
  avx512-emulated)
    extra_options=(--CDSIMD_NN_EMULATE_AVX512=ON)
    ;;
  *)
    echo "Invalid build name '$name': expected clang, gcc-O1, gcc-znver3 or avx512-emulated" \
      "(test/builds/run.sh clang)." >&2
    exit 2
    ;;
esac
if ! command -v "$compiler" >/dev/null; then
  echo "$compiler not found. Install it (Debian: apt-get install clang g++) or set CXX_CLANG." >&2
  exit 1
fi
"$compiler" --version | head -n 1

npx cmake-js compile -O "build-$name" --CDCMAKE_CXX_COMPILER="$compiler" --CDSIMD_NN_OPTIMIZE_FLAGS="$optimize" \
  "${extra_options[@]}"

# The suite loads build/Release/simd_nn.node, so the other build goes there for the run. The file that was
# there waits in simd_nn.node.saved beside it and comes back at exit. A run killed before it could put the file
# back (kill -9, the OOM killer) leaves the saved copy, which the next run restores first.
saved=build/Release/simd_nn.node.saved
absent=build/Release/simd_nn.node.absent
if [ -f "$saved" ]; then
  echo "Restoring build/Release/simd_nn.node from $saved, left by a run that was killed." >&2
  mv "$saved" build/Release/simd_nn.node
elif [ -f "$absent" ]; then
  rm -f build/Release/simd_nn.node "$absent"
fi
if [ -f build/Release/simd_nn.node ]; then
  cp build/Release/simd_nn.node "$saved"
else
  touch "$absent"
fi
restore() {
  if [ -f "$saved" ]; then
    mv "$saved" build/Release/simd_nn.node
  else
    rm -f build/Release/simd_nn.node "$absent"
  fi
}
trap restore EXIT


cp "build-$name/Release/simd_nn.node" build/Release/simd_nn.node
# The addon's .comment section names the compilers of its objects (GCC's runtime objects too).
if [ "$name" = clang ] && command -v readelf >/dev/null && ! readelf -p .comment build/Release/simd_nn.node | grep -q clang; then
  echo "build/Release/simd_nn.node was not compiled by clang; check CMAKE_CXX_COMPILER in build-clang/." >&2
  exit 1
fi
if [ "$name" = avx512-emulated ]; then
  # Without the emulated set in the list, the suite would skip the AVX-512 tests and still pass.
  node -e '
    const { available } = require("./build/Release/simd_nn.node").info();
    if (!available.includes("avx512")) {
      console.error(`The emulated build lists ${available.join(", ")}, not avx512. Does this CPU have AVX2?`);
      process.exit(1);
    }
  '
fi
npx vitest run

if [ "$name" = avx512-emulated ]; then
  g++ -O2 -Wall -Inative -o "build-$name/guard-pages" test/native/guard-pages.cpp "build-$name/libsimd_nn_core.a"
  "build-$name/guard-pages"
fi
