"""Means over seeds with their 95% Student-t intervals, and intervals of the difference of two configurations.

With fewer than two values there is no interval: it is None (absent), never 0. Two configurations
trained on the same seeds are compared by the paired difference seed by seed (the seed's shared
luck cancels out); otherwise by Welch's two-sample interval, which does not assume equal variances.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95
NO_DIFFERENCE = "no detectable difference at 95%"


def t_quantile(df: float) -> float:
    """The two-sided CONFIDENCE quantile of Student's t with `df` degrees of freedom."""
    return float(stats.t.ppf((1 + CONFIDENCE) / 2, df))


@dataclass(frozen=True)
class Estimate:
    """A mean over n values and its 95% interval, mean ± half_width (None when n < 2)."""

    n: int
    mean: float
    std: float | None
    half_width: float | None

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width


def estimate(values: Sequence[float]) -> Estimate:
    """Mean, sample standard deviation and t-interval half-width of `values`."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to estimate from")
    mean = math.fsum(values) / n
    if n < 2:
        return Estimate(n, mean, None, None)
    std = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    return Estimate(n, mean, std, t_quantile(n - 1) * std / math.sqrt(n))


@dataclass(frozen=True)
class Difference:
    """other - base: its mean, 95% interval (None if it cannot be computed), method and sample sizes."""

    method: str  # "paired" (by seed) or "welch"
    n_base: int
    n_other: int
    mean: float
    low: float | None
    high: float | None

    @property
    def verdict(self) -> str:
        """better / worse (the interval excludes 0), or no detectable difference at 95%."""
        if self.low is None or self.high is None:
            return "no interval (fewer than 2 runs on a side)"
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return NO_DIFFERENCE


def paired_difference(base: Mapping[int, float], other: Mapping[int, float]) -> Difference:
    """other - base over the seeds both ran, seed by seed."""
    seeds = sorted(base.keys() & other.keys())
    if not seeds:
        raise ValueError("the two sides share no seed")
    paired = estimate([other[seed] - base[seed] for seed in seeds])
    return Difference("paired", len(seeds), len(seeds), paired.mean, paired.low, paired.high)


def welch_difference(base: Sequence[float], other: Sequence[float]) -> Difference:
    """other - base from two independent samples (Welch-Satterthwaite degrees of freedom)."""
    a, b = estimate(base), estimate(other)
    mean = b.mean - a.mean
    if a.std is None or b.std is None:
        return Difference("welch", a.n, b.n, mean, None, None)
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:  # both sides constant: the difference is exact
        return Difference("welch", a.n, b.n, mean, mean, mean)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = t_quantile(df) * se
    return Difference("welch", a.n, b.n, mean, mean - half, mean + half)


def difference(base: Mapping[int, float], other: Mapping[int, float]) -> Difference:
    """Paired by seed when both sides ran the same seeds (at least two), Welch otherwise."""
    if base.keys() == other.keys() and len(base) >= 2:
        return paired_difference(base, other)
    return welch_difference(list(base.values()), list(other.values()))
