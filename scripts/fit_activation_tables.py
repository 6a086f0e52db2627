#!/usr/bin/env python3
"""Fits the polynomials of the CPU forward activations (src/CustomOps/native/src/approx/).

Portable code (activation_math.h):
- the normal tail Phi(-a) = s 2^(-a^2 / (2 ln 2) + P(s)), s = 4 / (4 + a): P of degree 11 on
  s in [4/19, 1] (a in [0, 15]),
- 2^d on |d| <= 1/2, degree 6.
AVX-512 code (activation_avx512.h):
- kLog2NormalTail[k][slot]: log2 Phi(-a) on 16 intervals of a in [0, 15], one polynomial of degree
  DEGREE per interval in m in [1, 1.25): t = a + 1 with its exponent and top two mantissa bits
  replaced by those of 1.0 (the position inside the interval); the interval of a is chosen by
  bits 50-53 of the double t (low two bits of the biased exponent, top two mantissa bits),
- kExp2Small: 2^d on |d| <= 1/32, degree 3,
- kExp2Sixteenths: 2^(j/16), j = 0..15,
and the largest error of each fit. The per-interval tail fits are minimax (Remez exchange on a
grid of 800 points per interval); the others are Chebyshev fits (mpmath.chebyfit, near-minimax,
errors as mpmath estimates them). Needs mpmath (pip install mpmath); takes a few seconds.

usage: python3 scripts/fit_activation_tables.py [DEGREE]   (default 5)
"""
import sys

import mpmath as mp

mp.mp.dps = 30


def slot(exponent, quarter):
    # Biased exponents 1023..1026 of t in [1, 16) have low bits 3, 0, 1, 2.
    return ((exponent + 3) & 3) * 4 + quarter


def log2_normal_tail(exponent, quarter):
    def f(v):  # v: the position m in [1, 1.25)
        a = mp.mpf(2) ** exponent * (v + mp.mpf(quarter) / 4) - 1
        return mp.log(mp.ncdf(-a), 2)
    return f


def remez(f, lo, hi, degree, iterations=8, grid=800):
    """Minimax polynomial of f on [lo, hi]: coefficients, lowest power first, and the max error on the grid."""
    reference = [(lo + hi) / 2 - (hi - lo) / 2 * mp.cos(mp.pi * i / (degree + 1)) for i in range(degree + 2)]
    points = [lo + (hi - lo) * i / grid for i in range(grid + 1)]
    values = [f(x) for x in points]
    best = None
    for _ in range(iterations):
        # p(x_i) + (-1)^i E = f(x_i) on the reference points.
        system = mp.matrix(degree + 2, degree + 2)
        rhs = mp.matrix(degree + 2, 1)
        for i, x in enumerate(reference):
            for k in range(degree + 1):
                system[i, k] = x ** k
            system[i, degree + 1] = (-1) ** i
            rhs[i] = f(x)
        solution = mp.lu_solve(system, rhs)
        coefficients = [solution[k] for k in range(degree + 1)]
        errors = [values[i] - mp.polyval(coefficients[::-1], points[i]) for i in range(len(points))]
        best = (coefficients, max(abs(e) for e in errors))
        # New reference: the local extrema of the error, alternating in sign.
        extrema = [0] + [i for i in range(1, grid) if abs(errors[i]) >= abs(errors[i - 1]) and
                         abs(errors[i]) >= abs(errors[i + 1])] + [grid]
        alternating = []
        for i in extrema:
            if alternating and mp.sign(errors[i]) == mp.sign(errors[alternating[-1]]):
                if abs(errors[i]) > abs(errors[alternating[-1]]):
                    alternating[-1] = i
            else:
                alternating.append(i)
        while len(alternating) > degree + 2:
            alternating.pop(0 if abs(errors[alternating[0]]) < abs(errors[alternating[-1]]) else -1)
        if len(alternating) < degree + 2:
            break
        reference = [points[i] for i in alternating]
    return best


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    coefficients = [[0.0] * 16 for _ in range(degree + 1)]
    worst = mp.mpf(0)
    for exponent in range(4):
        for quarter in range(4):
            # Monomials of m itself (not centred): the coefficients grow, but evaluating them in
            # double still costs under 1e-13 on [1, 1.25), and the kernel saves a subtraction.
            fit, error = remez(log2_normal_tail(exponent, quarter), mp.mpf(1), mp.mpf(5) / 4, degree)
            worst = max(worst, error)
            for k in range(degree + 1):
                coefficients[k][slot(exponent, quarter)] = float(fit[k])
    print(f"// log2 Phi(-a), degree {degree}: max abs error {mp.nstr(worst, 3)} "
          f"(relative error of Phi: {mp.nstr(worst * mp.ln2, 3)})")
    print("kLog2NormalTail = {")
    for row in coefficients:
        print("    {" + ", ".join(repr(c) for c in row) + "},")
    print("};")
    fit, error = mp.chebyfit(lambda d: mp.mpf(2) ** d, [-mp.mpf(1) / 32, mp.mpf(1) / 32], 4, error=True)
    print(f"// 2^d on |d| <= 1/32, degree 3: max error {mp.nstr(error, 3)}")
    print("kExp2Small = {" + ", ".join(repr(float(c)) for c in reversed(fit)) + "};")
    print("kExp2Sixteenths = {" + ", ".join(repr(float(mp.mpf(2) ** (mp.mpf(j) / 16))) for j in range(16)) + "};")

    def log2_scaled_tail(s):
        a = 4 / s - 4
        return mp.log(mp.ncdf(-a) * mp.exp(a * a / 2) / s, 2)
    fit, error = mp.chebyfit(log2_scaled_tail, [mp.mpf(4) / 19, 1], 12, error=True)
    print(f"// portable P(s), degree 11: max abs error {mp.nstr(error, 3)} (relative error of Phi: {mp.nstr(error * mp.ln2, 3)})")
    print("P (highest power first) = {" + ", ".join(repr(float(c)) for c in fit) + "};")
    fit, error = mp.chebyfit(lambda d: mp.mpf(2) ** d, [-mp.mpf(1) / 2, mp.mpf(1) / 2], 7, error=True)
    print(f"// portable 2^d on |d| <= 1/2, degree 6: max error {mp.nstr(error, 3)}")
    print("Exp2 (highest power first) = {" + ", ".join(repr(float(c)) for c in fit) + "};")


if __name__ == "__main__":
    main()
