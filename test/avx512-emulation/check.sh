#!/usr/bin/env bash
# Builds test/avx512-emulation/check.cpp, which compares the emulated AVX-512 intrinsics with the CPU's, and
# runs it where the CPU has AVX-512 F, VL, BW and DQ. Elsewhere it only builds it and prints why. CI runs
# this script, so the emulation is checked whenever CI lands on an AVX-512 machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

mkdir -p build
# GCC 12 reports the deliberately undefined vectors inside its own AVX-512 intrinsics as uninitialized
# (GCC bug 105593, fixed in GCC 13).
g++ -std=c++17 -O2 -Wall -Wextra -Wno-uninitialized -Wno-maybe-uninitialized -ffp-contract=off \
  -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma \
  -o build/avx512-emulation-check test/avx512-emulation/check.cpp

for flag in avx512f avx512vl avx512bw avx512dq; do
  if ! grep -qw "$flag" /proc/cpuinfo; then
    echo "Built build/avx512-emulation-check; not run, because this CPU lacks $flag."
    exit 0
  fi
done
build/avx512-emulation-check
