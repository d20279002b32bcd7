"""Small statistics shared by the benchmark scripts."""

from __future__ import annotations


def percentile(xs, q: float) -> float:
    """The ``q`` quantile (0..1) of ``xs`` by linear interpolation (NaN when empty)."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
