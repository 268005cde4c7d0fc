#!/usr/bin/env bash
# Cross-compiles the addon and the kernels for Linux on arm64 (aarch64, glibc) with Debian's cross compiler, to
# show that the native sources build there with the scalar kernel set, then:
# - checks the glibc and libstdc++ versions the arm64 addon needs (scripts/check-glibc-needs.mjs),
# - runs scripts/arm64-smoke.cpp, linked statically with the kernels, under qemu-aarch64 when it is installed.
# The addon itself is not loaded: that needs an arm64 Node.js.
#
# Needs: apt-get install cmake g++-aarch64-linux-gnu (and qemu-user for the smoke test); npm ci done.
# Output: build/cross-arm64/Release/simd_nn.node
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  echo "cross-compile-arm64: aarch64-linux-gnu-g++ not found; install it with: apt-get install g++-aarch64-linux-gnu" >&2
  exit 1
fi

# The same include directories that cmake-js passes for a Node-API build: node-api-headers and node-addon-api.
node_api_include=$(node -p "require('node-api-headers').include_dir")
addon_api_include=$(node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))")

build_dir=build/cross-arm64
generator=()
if command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi

cmake -S . -B "$build_dir" "${generator[@]}" \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/scripts/aarch64-toolchain.cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/$build_dir/Release" \
  -DCMAKE_JS_INC="$node_api_include;$addon_api_include"
cmake --build "$build_dir"

addon="$build_dir/Release/simd_nn.node"
echo "== $addon"
readelf -h "$addon" | grep -E 'Class|Machine'
if grep -q '^SIMD_NN_X86:INTERNAL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null || ls "$build_dir"/CMakeFiles | grep -q 'simd_nn_avx'; then
  echo "cross-compile-arm64: the x86 kernel sets were built for arm64" >&2
  exit 1
fi
echo "kernel sets: scalar only"
node scripts/check-glibc-needs.mjs "$addon"

echo "== smoke test of the scalar kernels on arm64"
smoke="$build_dir/arm64-smoke"
# -O1: GCC 12.2 for aarch64 fails with an internal compiler error in the vectorizer on this file at -O2.
aarch64-linux-gnu-g++ -std=c++17 -O1 -static -Inative scripts/arm64-smoke.cpp "$build_dir/libsimd_nn_core.a" -o "$smoke"
if command -v qemu-aarch64 >/dev/null; then
  qemu-aarch64 "$smoke"
else
  echo "skipped: qemu-aarch64 not found (apt-get install qemu-user)"
fi
