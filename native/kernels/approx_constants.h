// Constants of the polynomial approximations shared by the AVX2 and AVX-512 kernel sets.
//
// Plain constexpr data only (internal linkage, no code), so both instruction-set files may include it.
// The polynomials are near-minimax fits made by tools/accuracy/fit_polynomials.py, which prints these lines
// and each fit's maximum relative error.
#ifndef SIMD_NN_KERNELS_APPROX_CONSTANTS_H_
#define SIMD_NN_KERNELS_APPROX_CONSTANTS_H_

namespace simd_nn {
namespace approx {

// Range reduction for e^x: n = round(x * 2^k / ln2) and r = x - n * ln2 / 2^k, so that
// e^x = 2^floor(n / 2^k) * 2^(j / 2^k) * e^r with j = n mod 2^k taken from a table and |r| <= ln2 / 2^(k+1).
// The AVX-512 set uses k = 4 (a 16-entry table, one permute), the AVX2 set k = 3 (8 entries).
// ln2 is split into a float32 high part and the float32 rounding of the rest; with FMA,
// x - n * kLn2Hi / 2^k is exact, and the truncated ln2 leaves an error near 2^-33 * |n| / 2^k in r.
constexpr float kLog2e = 0x1.715476p+0f;
constexpr float kLn2Hi = 0x1.62e43p-1f;
constexpr float kLn2Lo = -0x1.05c61p-29f;

// Adding 1.5 * 2^23 rounds a float of magnitude below 2^22 to an integer and leaves that integer, plus
// 2^22, in the low mantissa bits. Subtracting it again gives the rounded value as a float.
constexpr float kRoundingMagic = 0x1.8p+23f;

// Arguments outside [kExpMinArg, kExpMaxArg] are clamped: e^-104 is below half the smallest subnormal
// float32 (so the result rounds to 0), and e^89 overflows to +inf.
constexpr float kExpMinArg = -104.0f;
constexpr float kExpMaxArg = 89.0f;

// The exponentials that the cross-entropy kernels widen to float64 (ExpShiftedInDouble) go down to this
// argument instead, since e^-708 (about 2^-1021.4) is still a normal float64. When one class dominates, terms
// between 2^-150 and it can make up S' on their own.
constexpr float kExpInDoubleMinArg = -708.0f;

// e^r = 1 + r + r^2 * q(r) with q(r) = sum kExp16PolyK * r^K on |r| <= ln2 / 32 (widened by 0.2%).
// Maximum relative error 2^-29.2.
constexpr float kExp16Poly0 = 0x1.00022p-1f;  // 0.5000162124633789
constexpr float kExp16Poly1 = 0x1.5555ap-3f;  // 0.16666722297668457

// The same with q(r) = sum kExp8PolyK * r^K on |r| <= ln2 / 16 (widened by 0.2%). Maximum relative
// error 2^-32.3.
constexpr float kExp8Poly0 = 0x1p-1f;          // 0.5
constexpr float kExp8Poly1 = 0x1.555c7cp-3f;  // 0.16668030619621277
constexpr float kExp8Poly2 = 0x1.554832p-5f;  // 0.04166040197014809

// 2^(j/16) and 2^(j/8) as a float32 high part and the float32 rounding of the rest, so that the pair is
// accurate to about 2^-48.
constexpr float kExp2Table16High[16] = {
    0x1p+0f,       0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fep+0f,  0x1.3dea64p+0f,
    0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
    0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f,
};
constexpr float kExp2Table16Low[16] = {
    0x0p+0f,         0x1.9f3122p-25f,  -0x1.c15742p-27f, 0x1.ceac48p-25f, 0x1.4636e2p-25f, 0x1.824684p-25f,
    -0x1.593abcp-25f, -0x1.5bd5ecp-27f, 0x1.9fcef4p-26f,  -0x1.829fdp-25f, 0x1.15506ep-27f, 0x1.51f848p-27f,
    -0x1.a94b14p-26f, -0x1.3d56b2p-27f, -0x1.822dbcp-27f, 0x1.52486cp-27f,
};
// (2^(j/16) - T_high) / T_high rounded to float32, with T_high from kExp2Table16High: e^r = 1 + s gives
// T_high * (1 + s + this) = 2^(j/16) e^r to about 2^-48, as the high and low pair does.
constexpr float kExp2Table16RelativeLow[16] = {
    0x0p+0f,         0x1.8d96d4p-25f,  -0x1.9c0c22p-27f, 0x1.964904p-25f, 0x1.125002p-25f,  0x1.370be4p-25f,
    -0x1.0a355p-25f,  -0x1.00d8acp-27f, 0x1.26055cp-26f,  -0x1.05cb44p-25f, 0x1.67a1cap-28f,  0x1.a3b5e4p-28f,
    -0x1.f9c304p-27f, -0x1.6961b4p-28f, -0x1.a5217cp-28f, 0x1.61428ep-28f,
};
constexpr float kExp2Table8High[8] = {
    0x1p+0f, 0x1.172b84p+0f, 0x1.306fep+0f, 0x1.4bfdaep+0f, 0x1.6a09e6p+0f, 0x1.8ace54p+0f, 0x1.ae89fap+0f,
    0x1.d5818ep+0f,
};
constexpr float kExp2Table8Low[8] = {
    0x0p+0f,         -0x1.c15742p-27f, 0x1.4636e2p-25f,  -0x1.593abcp-25f, 0x1.9fcef4p-26f, 0x1.15506ep-27f,
    -0x1.a94b14p-26f, -0x1.822dbcp-27f,
};
// The same for kExp2Table8High, for the AVX2 sigmoid and tanh.
constexpr float kExp2Table8RelativeLow[8] = {
    0x0p+0f,        -0x1.9c0c22p-27f, 0x1.125002p-25f,  -0x1.0a355p-25f,
    0x1.26055cp-26f, 0x1.67a1cap-28f, -0x1.f9c304p-27f, -0x1.a5217cp-28f,
};

// The encoding of kExp2Table16High[j] less (127 << 23) + (j << 19), as integers. Adding (n + 2032) << 19,
// with n = 16 k + j and 0 <= n + 2032 < 2^13, gives the encoding of 2^k kExp2Table16High[j] for k > -127:
// the index bits that the shift moves into the mantissa cancel, and k + 127 lands in the exponent field.
constexpr int kExp2Table16HighBitsLessIndex[16] = {
    0,       -152893, -289342, -408621, -509968, -592590, -655657, -698305,
    -719629, -718684, -694486, -646004, -572163, -471841, -343865, -187011,
};
// The same for kExp2Table8High: the encoding less (127 << 23) + (j << 20), so that adding (n + 1016) << 20,
// with n = 8 k + j and 0 <= n + 1016 < 2^11, gives the encoding of 2^k kExp2Table8High[j].
constexpr int kExp2Table8HighBitsLessIndex[8] = {
    0, -289342, -509968, -655657, -719629, -694486, -572163, -343865,
};

// e^r - 1 = r + r^2 q(r) on 0 <= r <= ln2 / 16 (widened by 0.2% at both ends), for the AVX-512 tanh. The
// constants are 4 q(2h) = sum kTanhExpm1PolyK * h^K in h = r / 2. Maximum relative error of e^r - 1 is 2^-30.7
// with float32 coefficients.
constexpr float kTanhExpm1Poly0 = 0x1.000004p+1f;  // 2.000000476837158
constexpr float kTanhExpm1Poly1 = 0x1.554c12p+0f;  // 1.333191990852356
constexpr float kTanhExpm1Poly2 = 0x1.5b137cp-1f;  // 0.6778830289840698

// The same on 0 <= r <= ln2 / 8 with q of degree 3, for the AVX2 tanh (an 8-entry table). Maximum relative
// error of e^r - 1 is 2^-31.0 with float32 coefficients.
constexpr float kTanh8Expm1Poly0 = 0x1p+1f;         // 2.0
constexpr float kTanh8Expm1Poly1 = 0x1.5555aap+0f;  // 1.3333383798599243
constexpr float kTanh8Expm1Poly2 = 0x1.552758p-1f;  // 0.6663157939910889
constexpr float kTanh8Expm1Poly3 = 0x1.1adffep-2f;  // 0.2762450873851776

// tanh(x) rounds to 1 in float32 once 1 - tanh(x) < 2^-25, that is for x > 13 * ln2 = 9.0109. Larger
// arguments are clamped to this value, where 1 - 2e/(1 + e) with e = e^(-2x) still rounds to exactly 1.
constexpr float kTanhSaturation = 9.1f;

// atanh(g) = g + g^3 * Q(g^2) for |g| <= (sqrt(2) - 1) / (sqrt(2) + 1) (widened by 2%), with
// Q(v) = sum kAtanhPolyK * v^K. Maximum relative error 2^-44.6. Used by the float64 log1p.
constexpr double kAtanhPoly0 = 0x1.555555564a28dp-2;  // 0.33333333338900034
constexpr double kAtanhPoly1 = 0x1.99999627a8f95p-3;  // 0.19999997433216934
constexpr double kAtanhPoly2 = 0x1.24944c2f9959fp-3;  // 0.14286098022709567
constexpr double kAtanhPoly3 = 0x1.c616c5a051b77p-4;  // 0.11086156080010122
constexpr double kAtanhPoly4 = 0x1.924a1140c534ap-4;  // 0.09821516742188155

constexpr double kLn2 = 0x1.62e42fefa39efp-1;
constexpr double kSqrtHalf = 0x1.6a09e667f3bcdp-1;

}  // namespace approx
}  // namespace simd_nn

#endif  // SIMD_NN_KERNELS_APPROX_CONSTANTS_H_
