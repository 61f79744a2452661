"""Mean +- std and the paired Student-t confidence interval of an ablation table.

The t quantile is computed here (no scipy): the Student-t CDF through the regularized
incomplete beta function (continued fraction, Numerical Recipes' ``betacf``), inverted by
bisection.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple


def _betacf(a: float, b: float, x: float, iters: int = 300, eps: float = 1e-15) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, iters + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > 1e-300 else 1e-300
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > 1e-300 else 1e-300
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (e.g. ``t_quantile(0.975, 1) = 12.706``)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; NaN std for one value)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def paired_ci(row: Sequence[float], base: Sequence[float], level: float = 0.95
              ) -> Tuple[float, Optional[float], Optional[float]]:
    """Mean of the per-seed differences ``row[i] - base[i]`` and its two-sided Student-t
    confidence interval ``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)`` (``None`` bounds with
    fewer than two pairs)."""
    if len(row) != len(base):
        raise ValueError(f"paired_ci: {len(row)} values against {len(base)}")
    d = [r - b for r, b in zip(row, base)]
    mean, sd = mean_std(d)
    if len(d) < 2:
        return mean, None, None
    half = t_quantile(0.5 + level / 2.0, len(d) - 1) * sd / math.sqrt(len(d))
    return mean, mean - half, mean + half


__all__ = ["t_quantile", "t_cdf", "betainc", "mean_std", "paired_ci"]
