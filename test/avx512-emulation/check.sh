#!/usr/bin/env bash
# Builds test/avx512-emulation/check.cpp twice and runs what this CPU supports. The AVX2 build compares the
# emulated intrinsics that have an AVX2 counterpart with it, and the AVX-512 build compares every emulated
# intrinsic with the CPU's AVX-512 instruction. CI runs this script, so the first part runs on every CI
# machine, and the second whenever CI lands on an AVX-512 machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

mkdir -p build
flags=(-std=c++17 -O2 -Wall -Wextra -ffp-contract=off)
# -Wno-psabi silences GCC's note that 64-byte vectors pass differently without AVX-512. The check passes them
# only between functions of this one file.
g++ "${flags[@]}" -Wno-psabi -mavx2 -mfma -o build/avx512-emulation-check-avx2 test/avx512-emulation/check.cpp
# GCC 12 reports the deliberately undefined vectors inside its own AVX-512 intrinsics as uninitialized
# (GCC bug 105593, fixed in GCC 13).
g++ "${flags[@]}" -Wno-uninitialized -Wno-maybe-uninitialized -mavx512f -mavx512vl -mavx512bw -mavx512dq \
  -mavx2 -mfma -o build/avx512-emulation-check test/avx512-emulation/check.cpp

has_flags() {
  for flag in "$@"; do
    if ! grep -qw "$flag" /proc/cpuinfo; then
      echo "$flag"
      return 1
    fi
  done
}

if missing="$(has_flags avx2 fma)"; then
  build/avx512-emulation-check-avx2
else
  echo "Built build/avx512-emulation-check-avx2; not run, because this CPU lacks $missing."
fi
if missing="$(has_flags avx512f avx512vl avx512bw avx512dq)"; then
  build/avx512-emulation-check
else
  echo "Built build/avx512-emulation-check; not run, because this CPU lacks $missing."
fi
