// The table of kernels that one instruction set provides, and the contract every kernel keeps.
//
// This header is included by translation units compiled with different -m flags, so it holds only
// declarations and plain data. An inline function, template or standard-library call here could be compiled
// with AVX-512 instructions in one file and then picked by the linker for every file (an ODR violation that
// only shows as SIGILL on an older CPU).
//
// Contract shared by every kernel:
// - Arrays are float32 and only 4-byte aligned (views into larger buffers), so kernels use unaligned loads and
//   stores and touch no element outside the ranges given.
// - An output may be exactly its input (same pointer, same length). No other overlap is allowed; the binding
//   rejects it before any kernel runs.
// - Kernels never allocate, throw, or change the floating-point environment (MXCSR rounding, FTZ or DAZ).
// - Denormal inputs are treated as their true values. A result below 2^-126 in magnitude may be off by at most
//   2^-126 (flushing it to zero is allowed).
// - Equal inputs give bit-identical outputs wherever they sit: the vector body and the tail compute alike.
//   A NaN result is NaN, and its sign and payload are not part of the contract.
// - Accuracy bounds are stated in ulp against the float32 rounding of the exact result.
#ifndef SIMD_NN_KERNEL_SET_H_
#define SIMD_NN_KERNEL_SET_H_

#include <cstddef>

// Helpers of the kernel files are forced inline into their loops: the SIMD sets keep values in registers that
// way, and the scalar set's loops vectorize only with no call left in them. Such helpers are static or in an
// anonymous namespace, so no out-of-line copy can cross from one set to another.
#define SIMD_NN_ALWAYS_INLINE inline __attribute__((always_inline))
// The same for lambdas, which GCC otherwise may compile as out-of-line functions called per vector.
#define SIMD_NN_LAMBDA_ALWAYS_INLINE __attribute__((always_inline))

namespace simd_nn {

struct KernelSet {
  // Name reported by info().isa and accepted by SIMD_NN_ISA: "scalar", "avx2" or "avx512".
  const char* name;

  // Element-wise kernels: y[i] = f(x[i]) for i in [0, n).
  // relu: max(x, 0), exact; NaN stays NaN.
  void (*relu)(const float* x, float* y, size_t n);
  // sigmoid: 1 / (1 + e^-x) within 2 ulp, never outside [0, 1]; -inf gives 0, +inf gives 1.
  void (*sigmoid)(const float* x, float* y, size_t n);
  // tanh within 2 ulp, never above 1 in magnitude; keeps -0 and returns x for tiny x.
  void (*tanh)(const float* x, float* y, size_t n);
  // e^x, the building block of the others. Not public API: exposed to tests and the accuracy sweep only.
  void (*exp)(const float* x, float* y, size_t n);
  // relu6: min(max(x, 0), 6), exact. NaN stays NaN.
  void (*relu6)(const float* x, float* y, size_t n);
  // leaky_relu: x for x > 0, else alpha * x, exact (one rounding) for any finite alpha, also above 1 or below 0.
  // NaN stays NaN. With alpha = +-0, -inf gives the limit -alpha (a zero) where 0 * -inf would be NaN.
  void (*leaky_relu)(const float* x, float* y, size_t n, float alpha);
  // softplus: log(1 + e^x) within 2 ulp. -inf gives 0, +inf gives +inf, and the tail keeps e^x.
  void (*softplus)(const float* x, float* y, size_t n);
  // log_sigmoid: -softplus(-x) within 2 ulp. +inf gives -0, -inf gives -inf, and large negative x gives x.
  void (*log_sigmoid)(const float* x, float* y, size_t n);
  // softsign: x / (|x| + 1) within 1 ulp. +-inf gives +-1, and -0 stays -0.
  void (*softsign)(const float* x, float* y, size_t n);
  // silu (swish): x * sigmoid(beta * x) within 2 ulp for any finite beta, with beta * x taken exactly. The
  // negative tail keeps its value where x e^(beta x) is a normal float. At x = +-inf it gives the limit: x where
  // beta * x is +inf or beta is 0, else 0 with the sign of x. -0 stays -0.
  void (*silu)(const float* x, float* y, size_t n, float beta);

  // Softmax of each row of a contiguous rows x classes matrix. A row with NaN or +inf, or all -inf, becomes
  // all NaN; -inf entries give 0. Within 8 ulp per element for rows of up to 65,536 classes.
  void (*softmax_rows)(const float* x, float* y, size_t rows, size_t classes);

  // Fused softmax cross-entropy over contiguous rows x classes matrices of labels and logits:
  //   loss[r] = sum over j with labels[r][j] != 0 of labels[r][j] * (log S - s_j),
  //   backprop[r][j] = e^s_j / S - labels[r][j],
  // where s_j = logits[r][j] - max_j logits[r][j] and S = sum_j e^s_j. With a single maximum, log S is
  // log1p(S - 1), so a dominant class keeps its tiny loss and gradient. backprop may be null (loss only) or
  // exactly logits. Rows with NaN or +inf logits, or all -inf, give NaN loss and NaN backprop.
  // Loss within 8 ulp of max(|loss|, log S) for non-negative labels, and of sum_j |z_j| * log S when labels of
  // both signs cancel. Each backprop element within 4 ulp of max(e^s_j / S, |z_j|).
  void (*softmax_xent_rows)(const float* labels, const float* logits, float* loss, float* backprop,
                            size_t rows, size_t classes);

  // Element-wise sigmoid cross-entropy, max(x, 0) - x * z + log1p(e^-|x|) with x = logits, z = labels, and
  // its limits at x = +-inf (0 where the label makes the infinite term vanish). Within 2 ulp of
  // max(|result|, log1p(e^-|x|)).
  void (*sigmoid_xent)(const float* labels, const float* logits, float* out, size_t n);

  // Sum of x[i]^2 for i in [0, n), accumulated in float64 so that l2_loss neither overflows early nor loses
  // precision on long inputs.
  double (*sum_squares)(const float* x, size_t n);
};

namespace scalar {
extern const KernelSet kKernelSet;
}

#if defined(SIMD_NN_HAVE_X86_SETS)
namespace avx2 {
extern const KernelSet kKernelSet;
}
namespace avx512 {
extern const KernelSet kKernelSet;
}
#endif

}  // namespace simd_nn

#endif  // SIMD_NN_KERNEL_SET_H_
