#!/usr/bin/env python3
"""Fit the polynomial coefficients used by the AVX2 and AVX-512 kernels.

Each fit is a near-minimax approximation found by Lawson's algorithm (iteratively reweighted least squares)
on a dense grid, with the target function evaluated in 40-digit arithmetic by mpmath. The output is the
C++ constants pasted into native/kernels/approx_constants.h, followed by each fit's maximum relative error
before and after rounding the coefficients to the kernel's precision.

Usage: python3 tools/accuracy/fit_polynomials.py   (needs numpy and mpmath)
"""
import math
import re

import mpmath as mp
import numpy as np

mp.mp.dps = 40


def lawson_fit(powers, target, weight, grid, iterations=400):
    """Return coefficients c minimizing max |weight * (sum_k c_k grid^powers[k] - target)| over the grid."""
    basis = np.array([[x ** p for p in powers] for x in grid]) * weight[:, None]
    goal = target * weight
    lawson_weights = np.full(len(grid), 1.0 / len(grid))
    best_coefficients, best_error = None, math.inf
    for _ in range(iterations):
        root = np.sqrt(lawson_weights)
        coefficients, *_ = np.linalg.lstsq(basis * root[:, None], goal * root, rcond=None)
        residual = basis @ coefficients - goal
        error = np.max(np.abs(residual))
        if error < best_error:
            best_coefficients, best_error = coefficients, error
        lawson_weights = lawson_weights * np.abs(residual)
        lawson_weights /= lawson_weights.sum()
    return best_coefficients, best_error


def max_relative_error(coefficients, powers, target, weight, grid):
    values = np.array([sum(c * x ** p for c, p in zip(coefficients, powers)) for x in grid])
    return np.max(np.abs((values - target) * weight))


def report(name, coefficients, rounded, powers, target, weight, grid, ctype):
    before = max_relative_error(coefficients, powers, target, weight, grid)
    after = max_relative_error(rounded, powers, target, weight, grid)
    print(f"// {name}: max relative error 2^{math.log2(before):.1f}, "
          f"2^{math.log2(after):.1f} with {ctype} coefficients")


def fit_exp(table_bits, degree):
    # e^r = 1 + r + r^2 q(r) on |r| <= ln2 / 2^(table_bits + 1), the range left once 2^(j / 2^table_bits)
    # comes from a table; widened by 0.2% for the rounding of n = round(x 2^table_bits / ln2).
    # The weight r^2 / e^r turns the error of q into the relative error of e^r.
    bound = math.log(2) / 2 ** (table_bits + 1) * 1.002
    grid = np.array([x for x in np.linspace(-bound, bound, 4001) if abs(x) > 1e-7])
    target = np.array([float((mp.exp(x) - 1 - x) / mp.mpf(x) ** 2) for x in grid])
    weight = np.array([float(mp.mpf(x) ** 2 / mp.exp(x)) for x in grid])
    powers = list(range(degree + 1))
    coefficients, _ = lawson_fit(powers, target, weight, grid)
    rounded = [float(np.float32(c)) for c in coefficients]
    report(f"exp with a {2 ** table_bits}-entry table, q(r) of degree {degree}", coefficients, rounded, powers,
           target, weight, grid, "float32")
    return rounded


def exp2_table(table_bits):
    # 2^(j / 2^table_bits) for j in [0, 2^table_bits) as a float32 high part and the float32 rounding of the rest.
    high, low = [], []
    for j in range(2 ** table_bits):
        exact = mp.power(2, mp.mpf(j) / 2 ** table_bits)
        h = float(np.float32(float(exact)))
        high.append(h)
        low.append(float(np.float32(float(exact - h))))
    return high, low


def exp2_table_relative_low(table_bits):
    # (2^(j / 2^table_bits) - high) / high as float32: adding it to e^r - 1 replaces the low part.
    high, _ = exp2_table(table_bits)
    return [float(np.float32(float((mp.power(2, mp.mpf(j) / 2 ** table_bits) - h) / h))) for j, h in enumerate(high)]


def fit_tanh_expm1(table_bits, degree):
    # e^r - 1 = r + r^2 q(r) on 0 <= r <= ln2 / 2^table_bits (tanh rounds n down), widened by 0.2% at both
    # ends; the weight r^2 / (e^r - 1) gives the relative error of e^r - 1, which tanh needs down to r = 0.
    # The kernel evaluates 4 q(2h) in h = r / 2, so the constants are 4 q_k 2^k, exact scalings.
    bound = math.log(2) / 2 ** table_bits
    grid = np.array([x for x in np.linspace(-0.002 * bound, 1.002 * bound, 4001) if abs(x) > 1e-7])
    target = np.array([float((mp.exp(x) - 1 - x) / mp.mpf(x) ** 2) for x in grid])
    weight = np.array([float(mp.mpf(x) ** 2 / mp.expm1(x)) for x in grid])
    powers = list(range(degree + 1))
    coefficients, _ = lawson_fit(powers, target, weight, grid)
    rounded = [float(np.float32(c)) for c in coefficients]
    report(f"e^r - 1 on [0, ln2/{2 ** table_bits}], q(r) of degree {degree}", coefficients, rounded, powers,
           target, weight, grid, "float32")
    return [c * 4 * 2 ** k for k, c in enumerate(rounded)]


def exp2_table_high_bits_less_index(table_bits):
    # The encoding of the table's high part less (127 << 23) + (j << (23 - table_bits)): adding
    # (n + 127 * 2^table_bits) << (23 - table_bits) then gives the encoding of 2^floor(n / 2^table_bits) * high[j]
    # (see approx_constants.h).
    high, _ = exp2_table(table_bits)
    shift = 23 - table_bits
    return [int(np.float32(h).view(np.int32)) - (127 << 23) - (j << shift) for j, h in enumerate(high)]


def fit_atanh():
    # atanh(g) = g + g^3 Q(g^2) for |g| <= (sqrt(2) - 1) / (sqrt(2) + 1), the range left by reducing
    # 1 + u to [sqrt(1/2), sqrt(2)); widened 2% for the rounding of that reduction.
    bound = (math.sqrt(2) - 1) / (math.sqrt(2) + 1) * 1.02
    grid = np.linspace(1e-4, bound, 3000)
    target = np.array([float((mp.atanh(g) - g) / mp.mpf(g) ** 3) for g in grid])
    weight = np.array([float(mp.mpf(g) ** 3 / mp.atanh(g)) for g in grid])
    powers = [2 * k for k in range(5)]
    coefficients, _ = lawson_fit(powers, target, weight, grid)
    report("atanh, Q(g^2) of degree 4", coefficients, coefficients, powers, target, weight, grid, "float64")
    return [float(c) for c in coefficients]


def float_literal(value):
    return re.sub(r"\.?0+p", "p", float(np.float32(value)).hex()) + "f"


def print_constants(name, values):
    for k, value in enumerate(values):
        print(f"constexpr float {name}{k} = {float_literal(value)};  // {value!r}")


def print_table(name, values):
    print(f"constexpr float {name}[{len(values)}] = {{")
    for k in range(0, len(values), 4):
        print("    " + ", ".join(float_literal(v) for v in values[k:k + 4]) + ",")
    print("};")


def main():
    exp16 = fit_exp(4, 1)
    exp8 = fit_exp(3, 2)
    tanh_expm1 = fit_tanh_expm1(4, 2)
    tanh8_expm1 = fit_tanh_expm1(3, 3)
    atanh_coefficients = fit_atanh()
    print_constants("kExp16Poly", exp16)
    print_constants("kExp8Poly", exp8)
    for bits in (4, 3):
        high, low = exp2_table(bits)
        print_table(f"kExp2Table{2 ** bits}High", high)
        print_table(f"kExp2Table{2 ** bits}Low", low)
    for bits in (4, 3):
        print_table(f"kExp2Table{2 ** bits}RelativeLow", exp2_table_relative_low(bits))
    for bits in (4, 3):
        print(f"constexpr int kExp2Table{2 ** bits}HighBitsLessIndex[{2 ** bits}] = {{")
        print("    " + ", ".join(str(v) for v in exp2_table_high_bits_less_index(bits)) + ",")
        print("};")
    print_constants("kTanhExpm1Poly", tanh_expm1)
    print_constants("kTanh8Expm1Poly", tanh8_expm1)
    for k, value in enumerate(atanh_coefficients):
        print(f"constexpr double kAtanhPoly{k} = {float(value).hex()};  // {value!r}")


if __name__ == "__main__":
    main()
