#!/usr/bin/env bash
# Checks the kernel-set dispatch on three CPUs: natively (expecting the best set this CPU supports), under
# qemu-user emulating a Haswell (AVX2 and FMA, no AVX-512; expecting avx2) and an older Nehalem (neither;
# expecting scalar). Each run loads build/Release/simd_nn.node, so build the addon first (npm run build).
#
# qemu-user emulates only the process it starts, which is why dispatch-check.mjs is a plain node script and
# not a test-runner file (a runner's worker processes would run natively).
#
# Needs qemu-x86_64 (Debian: apt-get install qemu-user) and an x86-64 host. Exits non-zero if any run fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(uname -m)" != "x86_64" ]; then
  echo "test/qemu/run.sh needs an x86-64 host; this is $(uname -m)." >&2
  exit 1
fi
if ! command -v qemu-x86_64 >/dev/null; then
  echo "qemu-x86_64 not found. Install it with: apt-get install qemu-user" >&2
  exit 1
fi
if [ ! -f build/Release/simd_nn.node ]; then
  echo "build/Release/simd_nn.node not found. Build the addon first: npm run build" >&2
  exit 1
fi

node_binary="$(command -v node)"
# The best set this CPU supports, as the addon reports it.
native_isa="$(node -e "console.log(require('./build/Release/simd_nn.node').info().available[0])")"

status=0
run_check() {
  local label="$1" expected="$2"
  shift 2
  echo "== ${label}: expecting ${expected}"
  # SIMD_NN_ISA would override the detection this script checks.
  if ! env -u SIMD_NN_ISA "$@" "${node_binary}" test/qemu/dispatch-check.mjs "${expected}"; then
    status=1
  fi
}

run_check "native" "${native_isa}"
run_check "qemu -cpu Haswell-v4" avx2 qemu-x86_64 -cpu Haswell-v4
run_check "qemu -cpu Nehalem-v1" scalar qemu-x86_64 -cpu Nehalem-v1
exit "${status}"
