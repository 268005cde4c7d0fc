// Plain C++ versions of the AVX-512 intrinsics the AVX-512 kernel set calls, for a test build that runs that
// set's code on a CPU without AVX-512: CMake option SIMD_NN_EMULATE_AVX512, or test/builds/run.sh
// avx512-emulated.
//
// The build compiles native/kernels/avx512.cpp and avx512_rows.cpp with -mavx2 -mfma and `-include` of this
// header. GCC's <immintrin.h> still declares the 512-bit vector types without -mavx512f, as generic vectors
// that GCC splits into 256-bit halves. Only its intrinsic functions need AVX-512, so each one the kernels call
// is redefined below as a macro that names a lane-by-lane function of ours.
//
// Each function follows Intel's description of the instruction for the operands the kernels pass. That covers
// NaN propagation, the signed zeros of VMAXPS and VMINPS, the tokens of VFIXUPIMMPS, the classes of VFPCLASSPS
// and the exact scaling of VSCALEFPS. Masked loads and stores touch no masked-off element. Aligned loads and
// non-temporal stores trap on an address that is not 64-byte aligned, as the instructions fault.
// The reductions combine lanes in the order of GCC 12's <avx512fintrin.h>, which decides their rounding.
//
// NOTE: VRCP14PS cannot be copied, because its table is the CPU's own. Its emulation errs by close to the
// 2^-14 the instruction allows, upward or downward by input, which tests the kernels' correction step harder
// than a CPU does. So emulated results may differ from an AVX-512 CPU's in the rounding that step leaves.
// The tests' ulp bounds hold for both. Only the accuracy sweep on a real AVX-512 CPU measures the shipped set.
#ifndef SIMD_NN_TEST_AVX512_EMULATION_INTRINSICS_H_
#define SIMD_NN_TEST_AVX512_EMULATION_INTRINSICS_H_

// test/avx512-emulation/check.cpp defines SIMD_NN_AVX512_EMULATION_FUNCTIONS_ONLY, which keeps the real
// intrinsic names, to compare the functions with real AVX-512 or AVX2 instructions.
#if defined(__AVX512F__) && !defined(SIMD_NN_AVX512_EMULATION_FUNCTIONS_ONLY)
#error "The AVX-512 emulation header replaces intrinsics only in builds without -mavx512f."
#endif

#include <immintrin.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace simd_nn_avx512_emulation {

typedef int32_t Int32x16 __attribute__((vector_size(64), may_alias));

union Float32Bits {
  float value;
  uint32_t bits;
};

inline uint32_t BitsOf(float x) {
  Float32Bits u;
  u.value = x;
  return u.bits;
}

inline float FloatFromBits(uint32_t bits) {
  Float32Bits u;
  u.bits = bits;
  return u.value;
}

inline float Quiet(float x) { return FloatFromBits(BitsOf(x) | 0x00400000u); }

inline double Quiet(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits |= 0x0008000000000000ull;
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

// The default NaN that x86 returns for invalid operations (sign set, quiet bit set).
inline float IndefiniteFloat() { return FloatFromBits(0xFFC00000u); }

inline double IndefiniteDouble() {
  const uint64_t bits = 0xFFF8000000000000ull;
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

inline void TrapUnlessAligned(const void* p) {
  if (reinterpret_cast<uintptr_t>(p) % 64 != 0) {
    __builtin_trap();
  }
}

inline bool LaneSet(unsigned mask, int lane) { return ((mask >> lane) & 1u) != 0; }

// Returns the result of a VCMPPS predicate (_CMP_* value, 0 to 31) for one pair of lanes. Bit 4 only chooses
// whether a quiet NaN raises an exception, so it changes no result.
template <typename T>
inline bool Compare(T a, T b, int predicate) {
  const bool unordered = std::isnan(a) || std::isnan(b);
  switch (predicate & 0xF) {
    case 0x0: return !unordered && a == b;
    case 0x1: return a < b;
    case 0x2: return a <= b;
    case 0x3: return unordered;
    case 0x4: return unordered || a != b;
    case 0x5: return !(a < b);
    case 0x6: return !(a <= b);
    case 0x7: return !unordered;
    case 0x8: return unordered || a == b;
    case 0x9: return !(a >= b);
    case 0xA: return !(a > b);
    case 0xB: return false;
    case 0xC: return !unordered && a != b;
    case 0xD: return a >= b;
    case 0xE: return a > b;
    default: return true;
  }
}

inline bool IsSignaling(float x) { return std::isnan(x) && (BitsOf(x) & 0x00400000u) == 0; }

inline bool IsSignaling(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return std::isnan(x) && (bits & 0x0008000000000000ull) == 0;
}

// VSCALEFPS and VSCALEFPD for one lane: x 2^floor(y), rounded once, with the instruction's special cases as
// the Bochs emulator models them (cpu/softfloat3e/f32_scalef.c). A quiet NaN x with an infinite y gives +0 or
// +inf rather than the NaN. The caller tells whether x was a signaling NaN, because float lanes arrive here
// converted to double, which quiets them.
inline double ScaleByPowerOfTwo(double x, double y, bool x_is_signaling, int exponent_clamp) {
  if (std::isnan(y)) {
    return std::isnan(x) ? Quiet(x) : Quiet(y);
  }
  if (std::isnan(x)) {
    if (x_is_signaling || !std::isinf(y)) {
      return Quiet(x);
    }
    return y < 0 ? 0.0 : INFINITY;
  }
  if (std::isinf(x)) {
    return std::isinf(y) && y < 0 ? IndefiniteDouble() : x;
  }
  if (x == 0) {
    return std::isinf(y) && y > 0 ? IndefiniteDouble() : x;
  }
  if (std::isinf(y)) {
    return y < 0 ? std::copysign(0.0, x) : std::copysign(INFINITY, x);
  }
  const double clamped = std::fmax(-exponent_clamp, std::fmin(exponent_clamp, std::floor(y)));
  return std::ldexp(x, static_cast<int>(clamped));
}

inline float ScaleLane(float x, float y) {
  // In double, x 2^n is exact for |n| <= 400, so the conversion back to float is the only rounding, as in
  // the instruction. Beyond 400 every float result is 0 or infinity already.
  return static_cast<float>(ScaleByPowerOfTwo(x, y, IsSignaling(x), 400));
}

// VFIXUPIMMPS for one lane with imm8 = 0: picks the response nibble of `table` by the class of `x` and returns
// it, or `destination` for response 0.
inline float FixUpLane(float destination, float x, int32_t table) {
  int token;
  if (std::isnan(x)) {
    token = (BitsOf(x) & 0x00400000u) != 0 ? 0 : 1;
  } else if (x == 0) {
    token = 2;
  } else if (x == 1.0f) {
    token = 3;
  } else if (std::isinf(x)) {
    token = x < 0 ? 4 : 5;
  } else {
    token = x < 0 ? 6 : 7;
  }
  static const float kResponses[16] = {0.0f,  0.0f,  0.0f,  0.0f, -INFINITY, INFINITY,  0.0f,
                                       -0.0f, 0.0f,  -1.0f, 1.0f, 0.5f,      90.0f,     1.57079637f,
                                       3.40282347e+38f, -3.40282347e+38f};
  const int response = (static_cast<uint32_t>(table) >> (4 * token)) & 0xF;
  switch (response) {
    case 0: return destination;
    case 1: return x;
    case 2: return Quiet(x);
    case 3: return IndefiniteFloat();
    case 6: return std::signbit(x) ? -INFINITY : INFINITY;
    default: return kResponses[response];
  }
}

// VRANGEPS for one lane, following the tables of Intel's SDM entry for signed zeros and equal magnitudes. imm8
// bits 1:0 choose min, max, min of magnitudes or max of magnitudes, and bits 3:2 take the sign from a, from the
// chosen value, or set it to 0 or 1. A signaling NaN returns quieted, without the sign step. A quiet NaN loses
// to the other operand, as a missing value would. Of two operands with opposite signs and equal magnitudes,
// zeros included, both min choices pick the negative one and both max choices the positive one. Bochs
// (cpu/softfloat3e/f32_range.c) picks b for min and a for max of equal magnitudes instead.
inline float RangeLane(float a, float b, int control) {
  if (IsSignaling(a)) {
    return Quiet(a);
  }
  if (IsSignaling(b)) {
    return Quiet(b);
  }
  const bool maximum = (control & 1) != 0;
  const bool magnitudes = (control & 2) != 0;
  float chosen;
  if (std::isnan(b)) {
    chosen = a;
  } else if (std::isnan(a)) {
    chosen = b;
  } else if (!magnitudes && std::signbit(a) != std::signbit(b)) {
    chosen = std::signbit(a) != maximum ? a : b;
  } else if (magnitudes && std::fabs(a) != std::fabs(b)) {
    const bool a_smaller = std::fabs(a) < std::fabs(b);
    chosen = a_smaller != maximum ? a : b;
  } else if (magnitudes) {
    // Equal magnitudes: the negative operand for min and the positive one for max.
    chosen = std::signbit(a) != maximum ? a : b;
  } else {
    chosen = (a < b) != maximum ? a : b;
  }
  switch ((control >> 2) & 3) {
    case 0: return std::copysign(chosen, a);
    case 1: return chosen;
    case 2: return std::fabs(chosen);
    default: return -std::fabs(chosen);
  }
}

// VFPCLASSPS for one lane: whether x is in any class that imm8 selects (bit 0 QNaN, 1 +0, 2 -0, 3 +inf,
// 4 -inf, 5 denormal, 6 negative finite, 7 SNaN).
inline bool InClass(float x, int classes) {
  const uint32_t bits = BitsOf(x);
  bool found = false;
  if (std::isnan(x)) {
    found = (bits & 0x00400000u) != 0 ? (classes & 0x01) != 0 : (classes & 0x80) != 0;
  } else if (x == 0) {
    found = std::signbit(x) ? (classes & 0x04) != 0 : (classes & 0x02) != 0;
  } else if (std::isinf(x)) {
    found = x < 0 ? (classes & 0x10) != 0 : (classes & 0x08) != 0;
  } else {
    found = (std::fpclassify(x) == FP_SUBNORMAL && (classes & 0x20) != 0) || (x < 0 && (classes & 0x40) != 0);
  }
  return found;
}

// An approximate reciprocal for VRCP14PS (see the NOTE above). It is 1/x times 1 + 2^-14 - 2^-20, or times
// 1 - 2^-14 + 2^-20 where x has an even number of set bits, rounded to float: below the instruction's 2^-14
// relative error. Powers of two, zeros, infinities and results outside the normal range are exact, as on the
// CPU, except that the CPU gives results below 2^-126 to about 18 bits.
inline float ApproximateReciprocal(float x) {
  if (std::isnan(x)) {
    return Quiet(x);
  }
  const double exact = 1.0 / static_cast<double>(x);
  const float rounded = static_cast<float>(exact);
  const bool power_of_two = (BitsOf(x) & 0x007FFFFFu) == 0;
  if (power_of_two || std::fpclassify(x) != FP_NORMAL || std::fpclassify(rounded) != FP_NORMAL) {
    return rounded;
  }
  const double offset = std::ldexp(1.0, -14) - std::ldexp(1.0, -20);
  const bool upward = (__builtin_popcount(BitsOf(x)) & 1) != 0;
  return static_cast<float>(exact * (upward ? 1.0 + offset : 1.0 - offset));
}

#define SIMD_NN_EMULATION_LANES(count, expression) \
  for (int i = 0; i < (count); ++i) {              \
    expression;                                    \
  }

// Arithmetic. An SSE or AVX operation with NaN operands returns the first of them, quieted. FNMADD and FMSUB
// negate a product or an addend, but a NaN passes through unnegated. Plain C++ could flip a NaN's sign with
// the negation, or take the other NaN where the compiler swaps the operands of a commutative operation, so
// every lane picks its NaN explicitly. For an FMA the instruction form the compiler chooses sets the order of
// the operands, and the emulation takes them in the order of the intrinsic's arguments.
template <typename T>
inline bool FirstNaN(T a, T b, T* result) {
  if (std::isnan(a)) {
    *result = Quiet(a);
    return true;
  }
  if (std::isnan(b)) {
    *result = Quiet(b);
    return true;
  }
  return false;
}

enum class Operation { kAdd, kSubtract, kMultiply, kDivide };

template <typename T>
inline T ArithmeticLane(T a, T b, Operation operation) {
  T result;
  if (FirstNaN(a, b, &result)) {
    return result;
  }
  switch (operation) {
    case Operation::kAdd: return a + b;
    case Operation::kSubtract: return a - b;
    case Operation::kMultiply: return a * b;
    default: return a / b;
  }
}

template <typename T>
inline T FusedLane(T a, T b, T c, bool negate_product, bool negate_addend) {
  T result;
  if (FirstNaN(a, b, &result)) {
    return result;
  }
  if (std::isnan(c)) {
    return Quiet(c);
  }
  return std::fma(negate_product ? -a : a, b, negate_addend ? -c : c);
}

// a b + c rounded toward minus infinity, for _mm512_fmadd_round_ps with _MM_FROUND_TO_NEG_INF. The product of
// two floats is exact in double, and TwoSum gives the exact error of the double sum, which settles the
// direction of the one rounding to float.
inline float FusedMultiplyAddDownward(float a, float b, float c) {
  const double product = static_cast<double>(a) * static_cast<double>(b);
  const double sum = product + static_cast<double>(c);
  if (!std::isfinite(sum)) {
    return FusedLane(a, b, c, false, false);
  }
  if (sum == 0) {
    // A zero sum is exact. Rounding toward minus infinity makes it -0 unless both terms are +0, as FMA3
    // does under MXCSR round-down.
    return product == 0 && !std::signbit(product) && !std::signbit(c) ? 0.0f : -0.0f;
  }
  const double c_part = sum - product;
  const double error = (product - (sum - c_part)) + (static_cast<double>(c) - c_part);
  const float nearest = static_cast<float>(sum);
  if (static_cast<double>(nearest) > sum || (static_cast<double>(nearest) == sum && error < 0)) {
    return std::nextafter(nearest, -INFINITY);
  }
  return nearest;
}

template <typename Vector, int kCount>
inline Vector Arithmetic(Vector a, Vector b, Operation operation) {
  Vector r;
  SIMD_NN_EMULATION_LANES(kCount, r[i] = ArithmeticLane(a[i], b[i], operation))
  return r;
}

template <typename Vector, int kCount>
inline Vector Fused(Vector a, Vector b, Vector c, bool negate_product, bool negate_addend) {
  Vector r;
  SIMD_NN_EMULATION_LANES(kCount, r[i] = FusedLane(a[i], b[i], c[i], negate_product, negate_addend))
  return r;
}

inline __m512 Add(__m512 a, __m512 b) { return Arithmetic<__m512, 16>(a, b, Operation::kAdd); }
inline __m512 Sub(__m512 a, __m512 b) { return Arithmetic<__m512, 16>(a, b, Operation::kSubtract); }
inline __m512 Mul(__m512 a, __m512 b) { return Arithmetic<__m512, 16>(a, b, Operation::kMultiply); }
inline __m512 Div(__m512 a, __m512 b) { return Arithmetic<__m512, 16>(a, b, Operation::kDivide); }
inline __m512d AddPd(__m512d a, __m512d b) { return Arithmetic<__m512d, 8>(a, b, Operation::kAdd); }
inline __m512d SubPd(__m512d a, __m512d b) { return Arithmetic<__m512d, 8>(a, b, Operation::kSubtract); }
inline __m512d MulPd(__m512d a, __m512d b) { return Arithmetic<__m512d, 8>(a, b, Operation::kMultiply); }
inline __m512d DivPd(__m512d a, __m512d b) { return Arithmetic<__m512d, 8>(a, b, Operation::kDivide); }

inline __m512 FusedMultiplyAdd(__m512 a, __m512 b, __m512 c) { return Fused<__m512, 16>(a, b, c, false, false); }
inline __m512 FusedMultiplySubtract(__m512 a, __m512 b, __m512 c) { return Fused<__m512, 16>(a, b, c, false, true); }
inline __m512 FusedNegatedMultiplyAdd(__m512 a, __m512 b, __m512 c) {
  return Fused<__m512, 16>(a, b, c, true, false);
}
inline __m512d FusedMultiplyAddPd(__m512d a, __m512d b, __m512d c) { return Fused<__m512d, 8>(a, b, c, false, false); }
inline __m512d FusedMultiplySubtractPd(__m512d a, __m512d b, __m512d c) {
  return Fused<__m512d, 8>(a, b, c, false, true);
}
inline __m512 FusedMultiplyAddRound(__m512 a, __m512 b, __m512 c, int rounding) {
  if ((rounding & 3) != _MM_FROUND_TO_NEG_INF) {
    __builtin_trap();  // The kernels round toward minus infinity only; add other modes here when needed.
  }
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = FusedMultiplyAddDownward(a[i], b[i], c[i]))
  return r;
}
inline __m512 MaskFusedMultiplyAdd3(__m512 a, __m512 b, __m512 c, __mmask16 k) {
  __m512 r = c;
  SIMD_NN_EMULATION_LANES(16, if (LaneSet(k, i)) r[i] = FusedLane(a[i], b[i], c[i], false, false))
  return r;
}
inline __m512d MaskFusedMultiplyAdd3Pd(__m512d a, __m512d b, __m512d c, __mmask8 k) {
  __m512d r = c;
  SIMD_NN_EMULATION_LANES(8, if (LaneSet(k, i)) r[i] = FusedLane(a[i], b[i], c[i], false, false))
  return r;
}

// VMAXPS and VMINPS return the second operand when either is NaN or both are zeros.
inline __m512 Max(__m512 a, __m512 b) {
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = a[i] > b[i] ? a[i] : b[i])
  return r;
}
inline __m512 Min(__m512 a, __m512 b) {
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = a[i] < b[i] ? a[i] : b[i])
  return r;
}

inline __m512 Abs(__m512 a) { return (__m512)((Int32x16)a & INT32_MAX); }
inline __m512d AbsPd(__m512d a) { return (__m512d)((__m512i)a & INT64_MAX); }

inline __m512 Range(__m512 a, __m512 b, int control) {
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = RangeLane(a[i], b[i], control))
  return r;
}
inline __m512 Scale(__m512 a, __m512 b) {
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = ScaleLane(a[i], b[i]))
  return r;
}
inline __m512d ScalePd(__m512d a, __m512d b) {
  __m512d r;
  // Beyond 2200 every double result is 0 or infinity already.
  SIMD_NN_EMULATION_LANES(8, r[i] = ScaleByPowerOfTwo(a[i], b[i], IsSignaling(a[i]), 2200))
  return r;
}
inline __m512d GetExponentPd(__m512d a) {
  __m512d r;
  SIMD_NN_EMULATION_LANES(8, r[i] = std::isnan(a[i]) ? Quiet(a[i]) : std::logb(a[i]))
  return r;
}
inline __m512 Reciprocal14(__m512 a) {
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = ApproximateReciprocal(a[i]))
  return r;
}
inline __m512 FixUp(__m512 destination, __m512 x, __m512i table, int control) {
  if (control != 0) {
    __builtin_trap();  // imm8 only sets exception reporting, which the kernels never ask for.
  }
  const Int32x16 entries = (Int32x16)table;
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = FixUpLane(destination[i], x[i], entries[i]))
  return r;
}
inline __mmask16 ClassMask(__m512 a, int classes) {
  unsigned mask = 0;
  SIMD_NN_EMULATION_LANES(16, mask |= InClass(a[i], classes) ? 1u << i : 0u)
  return static_cast<__mmask16>(mask);
}

// Comparisons and masks.
inline __mmask16 CompareMask(__m512 a, __m512 b, int predicate) {
  unsigned mask = 0;
  SIMD_NN_EMULATION_LANES(16, mask |= Compare(a[i], b[i], predicate) ? 1u << i : 0u)
  return static_cast<__mmask16>(mask);
}
inline __mmask8 CompareMaskPd(__m512d a, __m512d b, int predicate) {
  unsigned mask = 0;
  SIMD_NN_EMULATION_LANES(8, mask |= Compare(a[i], b[i], predicate) ? 1u << i : 0u)
  return static_cast<__mmask8>(mask);
}
inline __mmask16 MaskCompareMask(__mmask16 k, __m512 a, __m512 b, int predicate) {
  return static_cast<__mmask16>(k & CompareMask(a, b, predicate));
}
inline __mmask16 TestMask(__m512i a, __m512i b) {
  const Int32x16 both = (Int32x16)a & (Int32x16)b;
  unsigned mask = 0;
  SIMD_NN_EMULATION_LANES(16, mask |= both[i] != 0 ? 1u << i : 0u)
  return static_cast<__mmask16>(mask);
}

template <typename Vector, int kCount>
inline Vector Select(unsigned k, Vector if_clear, Vector if_set) {
  Vector r;
  SIMD_NN_EMULATION_LANES(kCount, r[i] = LaneSet(k, i) ? if_set[i] : if_clear[i])
  return r;
}
inline __m512 MaskMove(__m512 src, __mmask16 k, __m512 a) { return Select<__m512, 16>(k, src, a); }
inline __m512 MaskzMove(__mmask16 k, __m512 a) { return Select<__m512, 16>(k, __m512{}, a); }
inline __m512d MaskMovePd(__m512d src, __mmask8 k, __m512d a) { return Select<__m512d, 8>(k, src, a); }
inline __m512d MaskzMovePd(__mmask8 k, __m512d a) { return Select<__m512d, 8>(k, __m512d{}, a); }
inline __m512i MaskMoveEpi32(__m512i src, __mmask16 k, __m512i a) {
  return (__m512i)Select<Int32x16, 16>(k, (Int32x16)src, (Int32x16)a);
}
inline __m512 MaskBlend(__mmask16 k, __m512 a, __m512 b) { return Select<__m512, 16>(k, a, b); }
inline __m512 MaskAdd(__m512 src, __mmask16 k, __m512 a, __m512 b) { return MaskMove(src, k, Add(a, b)); }
inline __m512 MaskSub(__m512 src, __mmask16 k, __m512 a, __m512 b) { return MaskMove(src, k, Sub(a, b)); }
inline __m512 MaskzMul(__mmask16 k, __m512 a, __m512 b) { return MaskzMove(k, Mul(a, b)); }
inline __m512d MaskAddPd(__m512d src, __mmask8 k, __m512d a, __m512d b) { return MaskMovePd(src, k, AddPd(a, b)); }
inline __m512i MaskAddEpi32(__m512i src, __mmask16 k, __m512i a, __m512i b) {
  return MaskMoveEpi32(src, k, (__m512i)((Int32x16)a + (Int32x16)b));
}

// Integer and bitwise operations.
inline __m512i AddEpi32(__m512i a, __m512i b) { return (__m512i)((Int32x16)a + (Int32x16)b); }
inline __m512i SubEpi32(__m512i a, __m512i b) { return (__m512i)((Int32x16)a - (Int32x16)b); }
inline __m512i ShiftLeftEpi32(__m512i a, unsigned count) {
  if (count > 31) {
    return __m512i{};
  }
  return (__m512i)((Int32x16)a << static_cast<int>(count));
}
inline __m512i AndSi512(__m512i a, __m512i b) { return a & b; }
inline __m512i OrSi512(__m512i a, __m512i b) { return a | b; }
inline __m512 Or(__m512 a, __m512 b) { return (__m512)((Int32x16)a | (Int32x16)b); }
inline __m512i TernaryLogic(__m512i a, __m512i b, __m512i c, int table) {
  const Int32x16 x = (Int32x16)a;
  const Int32x16 y = (Int32x16)b;
  const Int32x16 z = (Int32x16)c;
  Int32x16 r;
  for (int i = 0; i < 16; ++i) {
    uint32_t bits = 0;
    for (int bit = 0; bit < 32; ++bit) {
      const unsigned index = (((static_cast<uint32_t>(x[i]) >> bit) & 1u) << 2) |
                             (((static_cast<uint32_t>(y[i]) >> bit) & 1u) << 1) |
                             ((static_cast<uint32_t>(z[i]) >> bit) & 1u);
      bits |= ((static_cast<unsigned>(table) >> index) & 1u) << bit;
    }
    r[i] = static_cast<int32_t>(bits);
  }
  return (__m512i)r;
}

// Set, load and store.
inline __m512 Set1(float x) {
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = x)
  return r;
}
inline __m512d Set1Pd(double x) {
  __m512d r;
  SIMD_NN_EMULATION_LANES(8, r[i] = x)
  return r;
}
inline __m512i Set1Epi32(int x) {
  Int32x16 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = x)
  return (__m512i)r;
}
inline __m512i SetrEpi32(int e0, int e1, int e2, int e3, int e4, int e5, int e6, int e7, int e8, int e9, int e10,
                         int e11, int e12, int e13, int e14, int e15) {
  const Int32x16 r = {e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15};
  return (__m512i)r;
}

inline __m512 LoadUnaligned(const void* p) {
  __m512 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
inline __m512i LoadUnalignedSi512(const void* p) {
  __m512i r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
inline __m512 LoadAligned(const void* p) {
  TrapUnlessAligned(p);
  return LoadUnaligned(p);
}
inline void StoreUnaligned(void* p, __m512 a) { std::memcpy(p, &a, sizeof a); }
inline void StoreStream(void* p, __m512 a) {
  TrapUnlessAligned(p);
  std::memcpy(p, &a, sizeof a);
}

// Masked loads and stores touch only the elements whose mask bit is set, so a masked-off element may sit on
// an unmapped page, as on the CPU.
template <typename Vector, typename Element, int kCount>
inline Vector MaskLoad(Vector src, unsigned k, const void* p) {
  Vector r = src;
  const char* bytes = static_cast<const char*>(p);
  for (int i = 0; i < kCount; ++i) {
    if (LaneSet(k, i)) {
      Element e;
      std::memcpy(&e, bytes + i * sizeof(Element), sizeof e);
      r[i] = e;
    }
  }
  return r;
}
template <typename Vector, typename Element, int kCount>
inline void MaskStore(void* p, unsigned k, Vector a) {
  char* bytes = static_cast<char*>(p);
  for (int i = 0; i < kCount; ++i) {
    if (LaneSet(k, i)) {
      const Element e = a[i];
      std::memcpy(bytes + i * sizeof(Element), &e, sizeof e);
    }
  }
}
inline __m512 MaskLoadUnaligned(__m512 src, __mmask16 k, const void* p) {
  return MaskLoad<__m512, float, 16>(src, k, p);
}
inline __m512 MaskLoadAligned(__m512 src, __mmask16 k, const void* p) {
  TrapUnlessAligned(p);
  return MaskLoad<__m512, float, 16>(src, k, p);
}
inline __m512 MaskzLoadUnaligned(__mmask16 k, const void* p) { return MaskLoad<__m512, float, 16>(__m512{}, k, p); }
inline __m512d MaskzLoadUnalignedPd(__mmask8 k, const void* p) {
  return MaskLoad<__m512d, double, 8>(__m512d{}, k, p);
}
inline __m256 MaskzLoadUnaligned256(__mmask8 k, const void* p) { return MaskLoad<__m256, float, 8>(__m256{}, k, p); }
inline void MaskStoreUnaligned(void* p, __mmask16 k, __m512 a) { MaskStore<__m512, float, 16>(p, k, a); }
inline void MaskStoreUnaligned256(void* p, __mmask8 k, __m256 a) { MaskStore<__m256, float, 8>(p, k, a); }

// Conversions and casts.
inline __m512d ConvertToDouble(__m256 a) {
  __m512d r;
  SIMD_NN_EMULATION_LANES(8, r[i] = a[i])
  return r;
}
inline __m256 ConvertToFloat(__m512d a) {
  __m256 r;
  SIMD_NN_EMULATION_LANES(8, r[i] = static_cast<float>(a[i]))
  return r;
}
inline float FirstLane(__m512 a) { return a[0]; }
inline __m512 CastToPs(__m512d a) { return (__m512)a; }
inline __m512 CastToPs(__m512i a) { return (__m512)a; }
inline __m512d CastToPd(__m512 a) { return (__m512d)a; }
inline __m512i CastToSi512(__m512 a) { return (__m512i)a; }
inline __m512 Widen(__m256 a) {
  // The intrinsic leaves the upper half undefined. Quiet NaNs there make any use of it show in the results.
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = i < 8 ? a[i] : FloatFromBits(0x7FC00000u))
  return r;
}
inline __m256 LowHalf(__m512 a) {
  __m256 r;
  SIMD_NN_EMULATION_LANES(8, r[i] = a[i])
  return r;
}
inline __m256 ExtractHalf(__m512 a, int half) {
  __m256 r;
  SIMD_NN_EMULATION_LANES(8, r[i] = a[8 * (half & 1) + i])
  return r;
}
inline __m512 InsertHalf(__m512 a, __m256 b, int half) {
  __m512 r = a;
  SIMD_NN_EMULATION_LANES(8, r[8 * (half & 1) + i] = b[i])
  return r;
}

// Shuffles and permutes. A 128-bit lane is a group of four floats (two doubles).
inline __m512 ShuffleBlocks(__m512 a, __m512 b, int control) {
  __m512 r;
  for (int block = 0; block < 4; ++block) {
    const int source = (control >> (2 * block)) & 3;
    SIMD_NN_EMULATION_LANES(4, r[4 * block + i] = block < 2 ? a[4 * source + i] : b[4 * source + i])
  }
  return r;
}
inline __m512 Shuffle(__m512 a, __m512 b, int control) {
  __m512 r;
  for (int block = 0; block < 4; ++block) {
    SIMD_NN_EMULATION_LANES(4, r[4 * block + i] = (i < 2 ? a : b)[4 * block + ((control >> (2 * i)) & 3)])
  }
  return r;
}
inline __m512 Permute(__m512 a, int control) { return Shuffle(a, a, control); }
inline __m512 PermuteVariable(__m512i index, __m512 a) {
  const Int32x16 lanes = (Int32x16)index;
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = a[lanes[i] & 15])
  return r;
}
inline __m512i PermuteVariableEpi32(__m512i index, __m512i a) {
  const Int32x16 lanes = (Int32x16)index;
  const Int32x16 values = (Int32x16)a;
  Int32x16 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = values[lanes[i] & 15])
  return (__m512i)r;
}
inline __m512 PermuteTwoVariable(__m512 a, __m512i index, __m512 b) {
  const Int32x16 lanes = (Int32x16)index;
  __m512 r;
  SIMD_NN_EMULATION_LANES(16, r[i] = (lanes[i] & 16) != 0 ? b[lanes[i] & 15] : a[lanes[i] & 15])
  return r;
}
inline __m512 UnpackLow(__m512 a, __m512 b) {
  __m512 r;
  for (int block = 0; block < 4; ++block) {
    SIMD_NN_EMULATION_LANES(2, (r[4 * block + 2 * i] = a[4 * block + i], r[4 * block + 2 * i + 1] = b[4 * block + i]))
  }
  return r;
}
inline __m512 UnpackHigh(__m512 a, __m512 b) {
  __m512 r;
  for (int block = 0; block < 4; ++block) {
    SIMD_NN_EMULATION_LANES(2, (r[4 * block + 2 * i] = a[4 * block + 2 + i],
                                r[4 * block + 2 * i + 1] = b[4 * block + 2 + i]))
  }
  return r;
}
inline __m512d UnpackLowPd(__m512d a, __m512d b) {
  __m512d r;
  SIMD_NN_EMULATION_LANES(4, (r[2 * i] = a[2 * i], r[2 * i + 1] = b[2 * i]))
  return r;
}
inline __m512d UnpackHighPd(__m512d a, __m512d b) {
  __m512d r;
  SIMD_NN_EMULATION_LANES(4, (r[2 * i] = a[2 * i + 1], r[2 * i + 1] = b[2 * i + 1]))
  return r;
}
inline __m512 CompressZero(__mmask16 k, __m512 a) {
  __m512 r{};
  int next = 0;
  SIMD_NN_EMULATION_LANES(16, if (LaneSet(k, i)) r[next++] = a[i])
  return r;
}
inline __m512 MaskExpand(__m512 src, __mmask16 k, __m512 a) {
  __m512 r = src;
  int next = 0;
  SIMD_NN_EMULATION_LANES(16, if (LaneSet(k, i)) r[i] = a[next++])
  return r;
}

// Reductions, paired as GCC 12's <avx512fintrin.h> pairs them: the upper 256 bits with the lower, then the
// upper 128 bits with the lower, then neighbouring lanes. GCC passes the upper half first in those two steps
// and the lower lane first after them, which decides the sign of a maximum of zeros.
template <typename T, typename Vector, int kCount, typename Combine>
inline T ReduceByHalves(Vector a, Combine combine) {
  T values[kCount];
  SIMD_NN_EMULATION_LANES(kCount, values[i] = a[i])
  for (int width = kCount / 2; width >= 1; width /= 2) {
    const bool upper_first = width >= kCount / 4;
    SIMD_NN_EMULATION_LANES(width, values[i] = upper_first ? combine(values[i + width], values[i])
                                                           : combine(values[i], values[i + width]))
  }
  return values[0];
}
inline float ReduceMax(__m512 a) {
  return ReduceByHalves<float, __m512, 16>(a, [](float first, float second) {
    return first > second ? first : second;
  });
}
inline double ReduceAddPd(__m512d a) {
  return ReduceByHalves<double, __m512d, 8>(a, [](double first, double second) { return first + second; });
}
inline int ReduceAddEpi32(__m512i a) {
  return ReduceByHalves<int32_t, Int32x16, 16>((Int32x16)a, [](int32_t first, int32_t second) {
    return static_cast<int32_t>(static_cast<uint32_t>(first) + static_cast<uint32_t>(second));
  });
}
inline int MaskReduceMaxEpi32(__mmask16 k, __m512i a) {
  const Int32x16 lanes = (Int32x16)MaskMoveEpi32(Set1Epi32(INT32_MIN), k, a);
  return ReduceByHalves<int32_t, Int32x16, 16>(lanes, [](int32_t first, int32_t second) {
    return first > second ? first : second;
  });
}
inline int MaskReduceMinEpi32(__mmask16 k, __m512i a) {
  const Int32x16 lanes = (Int32x16)MaskMoveEpi32(Set1Epi32(INT32_MAX), k, a);
  return ReduceByHalves<int32_t, Int32x16, 16>(lanes, [](int32_t first, int32_t second) {
    return first < second ? first : second;
  });
}

#undef SIMD_NN_EMULATION_LANES

}  // namespace simd_nn_avx512_emulation

#if !defined(SIMD_NN_AVX512_EMULATION_FUNCTIONS_ONLY)
// GCC defines some intrinsics that take an immediate as macros when not optimizing, so each name is undefined
// before it is redefined.

#undef _mm512_abs_pd
#define _mm512_abs_pd ::simd_nn_avx512_emulation::AbsPd
#undef _mm512_abs_ps
#define _mm512_abs_ps ::simd_nn_avx512_emulation::Abs
#undef _mm512_add_epi32
#define _mm512_add_epi32 ::simd_nn_avx512_emulation::AddEpi32
#undef _mm512_add_pd
#define _mm512_add_pd ::simd_nn_avx512_emulation::AddPd
#undef _mm512_add_ps
#define _mm512_add_ps ::simd_nn_avx512_emulation::Add
#undef _mm512_and_si512
#define _mm512_and_si512 ::simd_nn_avx512_emulation::AndSi512
#undef _mm512_castpd_ps
#define _mm512_castpd_ps ::simd_nn_avx512_emulation::CastToPs
#undef _mm512_castps256_ps512
#define _mm512_castps256_ps512 ::simd_nn_avx512_emulation::Widen
#undef _mm512_castps512_ps256
#define _mm512_castps512_ps256 ::simd_nn_avx512_emulation::LowHalf
#undef _mm512_castps_pd
#define _mm512_castps_pd ::simd_nn_avx512_emulation::CastToPd
#undef _mm512_castps_si512
#define _mm512_castps_si512 ::simd_nn_avx512_emulation::CastToSi512
#undef _mm512_castsi512_ps
#define _mm512_castsi512_ps ::simd_nn_avx512_emulation::CastToPs
#undef _mm512_cmp_pd_mask
#define _mm512_cmp_pd_mask ::simd_nn_avx512_emulation::CompareMaskPd
#undef _mm512_cmp_ps_mask
#define _mm512_cmp_ps_mask ::simd_nn_avx512_emulation::CompareMask
#undef _mm512_cvtpd_ps
#define _mm512_cvtpd_ps ::simd_nn_avx512_emulation::ConvertToFloat
#undef _mm512_cvtps_pd
#define _mm512_cvtps_pd ::simd_nn_avx512_emulation::ConvertToDouble
#undef _mm512_cvtss_f32
#define _mm512_cvtss_f32 ::simd_nn_avx512_emulation::FirstLane
#undef _mm512_div_pd
#define _mm512_div_pd ::simd_nn_avx512_emulation::DivPd
#undef _mm512_div_ps
#define _mm512_div_ps ::simd_nn_avx512_emulation::Div
#undef _mm512_extractf32x8_ps
#define _mm512_extractf32x8_ps ::simd_nn_avx512_emulation::ExtractHalf
#undef _mm512_fixupimm_ps
#define _mm512_fixupimm_ps ::simd_nn_avx512_emulation::FixUp
#undef _mm512_fmadd_pd
#define _mm512_fmadd_pd ::simd_nn_avx512_emulation::FusedMultiplyAddPd
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps ::simd_nn_avx512_emulation::FusedMultiplyAdd
#undef _mm512_fmadd_round_ps
#define _mm512_fmadd_round_ps ::simd_nn_avx512_emulation::FusedMultiplyAddRound
#undef _mm512_fmsub_pd
#define _mm512_fmsub_pd ::simd_nn_avx512_emulation::FusedMultiplySubtractPd
#undef _mm512_fmsub_ps
#define _mm512_fmsub_ps ::simd_nn_avx512_emulation::FusedMultiplySubtract
#undef _mm512_fnmadd_ps
#define _mm512_fnmadd_ps ::simd_nn_avx512_emulation::FusedNegatedMultiplyAdd
#undef _mm512_fpclass_ps_mask
#define _mm512_fpclass_ps_mask ::simd_nn_avx512_emulation::ClassMask
#undef _mm512_getexp_pd
#define _mm512_getexp_pd ::simd_nn_avx512_emulation::GetExponentPd
#undef _mm512_insertf32x8
#define _mm512_insertf32x8 ::simd_nn_avx512_emulation::InsertHalf
#undef _mm512_load_ps
#define _mm512_load_ps ::simd_nn_avx512_emulation::LoadAligned
#undef _mm512_loadu_ps
#define _mm512_loadu_ps ::simd_nn_avx512_emulation::LoadUnaligned
#undef _mm512_loadu_si512
#define _mm512_loadu_si512 ::simd_nn_avx512_emulation::LoadUnalignedSi512
#undef _mm512_mask3_fmadd_pd
#define _mm512_mask3_fmadd_pd ::simd_nn_avx512_emulation::MaskFusedMultiplyAdd3Pd
#undef _mm512_mask3_fmadd_ps
#define _mm512_mask3_fmadd_ps ::simd_nn_avx512_emulation::MaskFusedMultiplyAdd3
#undef _mm512_mask_add_epi32
#define _mm512_mask_add_epi32 ::simd_nn_avx512_emulation::MaskAddEpi32
#undef _mm512_mask_add_pd
#define _mm512_mask_add_pd ::simd_nn_avx512_emulation::MaskAddPd
#undef _mm512_mask_add_ps
#define _mm512_mask_add_ps ::simd_nn_avx512_emulation::MaskAdd
#undef _mm512_mask_blend_ps
#define _mm512_mask_blend_ps ::simd_nn_avx512_emulation::MaskBlend
#undef _mm512_mask_cmp_ps_mask
#define _mm512_mask_cmp_ps_mask ::simd_nn_avx512_emulation::MaskCompareMask
#undef _mm512_mask_expand_ps
#define _mm512_mask_expand_ps ::simd_nn_avx512_emulation::MaskExpand
#undef _mm512_mask_load_ps
#define _mm512_mask_load_ps ::simd_nn_avx512_emulation::MaskLoadAligned
#undef _mm512_mask_loadu_ps
#define _mm512_mask_loadu_ps ::simd_nn_avx512_emulation::MaskLoadUnaligned
#undef _mm512_mask_mov_epi32
#define _mm512_mask_mov_epi32 ::simd_nn_avx512_emulation::MaskMoveEpi32
#undef _mm512_mask_mov_pd
#define _mm512_mask_mov_pd ::simd_nn_avx512_emulation::MaskMovePd
#undef _mm512_mask_mov_ps
#define _mm512_mask_mov_ps ::simd_nn_avx512_emulation::MaskMove
#undef _mm512_mask_reduce_max_epi32
#define _mm512_mask_reduce_max_epi32 ::simd_nn_avx512_emulation::MaskReduceMaxEpi32
#undef _mm512_mask_reduce_min_epi32
#define _mm512_mask_reduce_min_epi32 ::simd_nn_avx512_emulation::MaskReduceMinEpi32
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps ::simd_nn_avx512_emulation::MaskStoreUnaligned
#undef _mm512_mask_sub_ps
#define _mm512_mask_sub_ps ::simd_nn_avx512_emulation::MaskSub
#undef _mm512_maskz_compress_ps
#define _mm512_maskz_compress_ps ::simd_nn_avx512_emulation::CompressZero
#undef _mm512_maskz_loadu_pd
#define _mm512_maskz_loadu_pd ::simd_nn_avx512_emulation::MaskzLoadUnalignedPd
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps ::simd_nn_avx512_emulation::MaskzLoadUnaligned
#undef _mm512_maskz_mov_pd
#define _mm512_maskz_mov_pd ::simd_nn_avx512_emulation::MaskzMovePd
#undef _mm512_maskz_mov_ps
#define _mm512_maskz_mov_ps ::simd_nn_avx512_emulation::MaskzMove
#undef _mm512_maskz_mul_ps
#define _mm512_maskz_mul_ps ::simd_nn_avx512_emulation::MaskzMul
#undef _mm512_max_ps
#define _mm512_max_ps ::simd_nn_avx512_emulation::Max
#undef _mm512_min_ps
#define _mm512_min_ps ::simd_nn_avx512_emulation::Min
#undef _mm512_mul_pd
#define _mm512_mul_pd ::simd_nn_avx512_emulation::MulPd
#undef _mm512_mul_ps
#define _mm512_mul_ps ::simd_nn_avx512_emulation::Mul
#undef _mm512_or_ps
#define _mm512_or_ps ::simd_nn_avx512_emulation::Or
#undef _mm512_or_si512
#define _mm512_or_si512 ::simd_nn_avx512_emulation::OrSi512
#undef _mm512_permute_ps
#define _mm512_permute_ps ::simd_nn_avx512_emulation::Permute
#undef _mm512_permutex2var_ps
#define _mm512_permutex2var_ps ::simd_nn_avx512_emulation::PermuteTwoVariable
#undef _mm512_permutexvar_epi32
#define _mm512_permutexvar_epi32 ::simd_nn_avx512_emulation::PermuteVariableEpi32
#undef _mm512_permutexvar_ps
#define _mm512_permutexvar_ps ::simd_nn_avx512_emulation::PermuteVariable
#undef _mm512_range_ps
#define _mm512_range_ps ::simd_nn_avx512_emulation::Range
#undef _mm512_rcp14_ps
#define _mm512_rcp14_ps ::simd_nn_avx512_emulation::Reciprocal14
#undef _mm512_reduce_add_epi32
#define _mm512_reduce_add_epi32 ::simd_nn_avx512_emulation::ReduceAddEpi32
#undef _mm512_reduce_add_pd
#define _mm512_reduce_add_pd ::simd_nn_avx512_emulation::ReduceAddPd
#undef _mm512_reduce_max_ps
#define _mm512_reduce_max_ps ::simd_nn_avx512_emulation::ReduceMax
#undef _mm512_scalef_pd
#define _mm512_scalef_pd ::simd_nn_avx512_emulation::ScalePd
#undef _mm512_scalef_ps
#define _mm512_scalef_ps ::simd_nn_avx512_emulation::Scale
#undef _mm512_set1_epi32
#define _mm512_set1_epi32 ::simd_nn_avx512_emulation::Set1Epi32
#undef _mm512_set1_pd
#define _mm512_set1_pd ::simd_nn_avx512_emulation::Set1Pd
#undef _mm512_set1_ps
#define _mm512_set1_ps ::simd_nn_avx512_emulation::Set1
#undef _mm512_setr_epi32
#define _mm512_setr_epi32 ::simd_nn_avx512_emulation::SetrEpi32
#undef _mm512_setzero_pd
#define _mm512_setzero_pd() (__m512d{})
#undef _mm512_setzero_ps
#define _mm512_setzero_ps() (__m512{})
#undef _mm512_setzero_si512
#define _mm512_setzero_si512() (__m512i{})
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4 ::simd_nn_avx512_emulation::ShuffleBlocks
#undef _mm512_shuffle_ps
#define _mm512_shuffle_ps ::simd_nn_avx512_emulation::Shuffle
#undef _mm512_slli_epi32
#define _mm512_slli_epi32 ::simd_nn_avx512_emulation::ShiftLeftEpi32
#undef _mm512_storeu_ps
#define _mm512_storeu_ps ::simd_nn_avx512_emulation::StoreUnaligned
#undef _mm512_stream_ps
#define _mm512_stream_ps ::simd_nn_avx512_emulation::StoreStream
#undef _mm512_sub_epi32
#define _mm512_sub_epi32 ::simd_nn_avx512_emulation::SubEpi32
#undef _mm512_sub_pd
#define _mm512_sub_pd ::simd_nn_avx512_emulation::SubPd
#undef _mm512_sub_ps
#define _mm512_sub_ps ::simd_nn_avx512_emulation::Sub
#undef _mm512_ternarylogic_epi32
#define _mm512_ternarylogic_epi32 ::simd_nn_avx512_emulation::TernaryLogic
#undef _mm512_test_epi32_mask
#define _mm512_test_epi32_mask ::simd_nn_avx512_emulation::TestMask
#undef _mm512_unpackhi_pd
#define _mm512_unpackhi_pd ::simd_nn_avx512_emulation::UnpackHighPd
#undef _mm512_unpackhi_ps
#define _mm512_unpackhi_ps ::simd_nn_avx512_emulation::UnpackHigh
#undef _mm512_unpacklo_pd
#define _mm512_unpacklo_pd ::simd_nn_avx512_emulation::UnpackLowPd
#undef _mm512_unpacklo_ps
#define _mm512_unpacklo_ps ::simd_nn_avx512_emulation::UnpackLow
#undef _mm256_mask_storeu_ps
#define _mm256_mask_storeu_ps ::simd_nn_avx512_emulation::MaskStoreUnaligned256
#undef _mm256_maskz_loadu_ps
#define _mm256_maskz_loadu_ps ::simd_nn_avx512_emulation::MaskzLoadUnaligned256
#endif  // !defined(SIMD_NN_AVX512_EMULATION_FUNCTIONS_ONLY)

#endif  // SIMD_NN_TEST_AVX512_EMULATION_INTRINSICS_H_
