#!/usr/bin/env bash
# Builds the addon with clang into build-clang/ and runs the test suite on that build.
#
# A second compiler keeps the sources portable (macOS and FreeBSD build from source with clang) and checks
# the code GCC makes of the kernels: GCC 12.2 miscompiled a draft of native/kernels/avx512_rows.cpp whose
# results depended on stale stack memory, while clang 14 compiled the same source right.
#
# Needs clang++ (Debian: apt-get install clang). CXX_CLANG names another clang++ binary. The suite loads
# build/Release/simd_nn.node, so the clang build goes there for the run, and the file that was there before
# comes back afterwards. Exits non-zero if the build or a test fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

compiler="${CXX_CLANG:-clang++}"
if ! command -v "$compiler" >/dev/null; then
  echo "$compiler not found. Install clang (Debian: apt-get install clang) or set CXX_CLANG." >&2
  exit 1
fi
"$compiler" --version | head -n 1

npx cmake-js compile -O build-clang --CDCMAKE_CXX_COMPILER="$compiler"

saved=""
if [ -f build/Release/simd_nn.node ]; then
  saved="$(mktemp)"
  cp build/Release/simd_nn.node "$saved"
fi
restore() {
  if [ -n "$saved" ]; then
    cp "$saved" build/Release/simd_nn.node
    rm -f "$saved"
  else
    rm -f build/Release/simd_nn.node
  fi
}
trap restore EXIT

mkdir -p build/Release
cp build-clang/Release/simd_nn.node build/Release/simd_nn.node
# The addon's .comment section names the compilers of its objects (GCC's runtime objects too).
if command -v readelf >/dev/null && ! readelf -p .comment build/Release/simd_nn.node | grep -q clang; then
  echo "build/Release/simd_nn.node was not compiled by clang; check CMAKE_CXX_COMPILER in build-clang/." >&2
  exit 1
fi
npx vitest run
