"""Means over training seeds and differences of two configurations, with both sources of error.

A test accuracy has two sources of error: the training seed (weights, dropout, batch order) and the
sample of test reviews, which every run shares, so that its error does not average out over seeds.
The per-review results of n runs (1 right, 0 wrong) form an n x N table of seeds crossed with
reviews, both random (a two-way random-effects design), and the variance of its mean has an unbiased
estimate in two parts (Cornfield and Tukey's expected mean squares):

    seed part   s² / n                     s²: the sample variance of the n runs' accuracies
    test part   max(0, V - MS_e / n) / N   V: the variance over the N reviews of their mean over the runs,
                                           MS_e: the residual (seed x review) mean square

The interval integrates the seed part's chi-square uncertainty (a generalized confidence interval,
Estimate says why). A difference of two
configurations is the same estimate on the table of their per-review differences, paired run by run
on the seeds both ran (the seed's shared luck cancels out; seeds only one side ran are left out and
named); two sides that share no seed are independent samples on the same reviews (a seed part per
side, one test part). docs/statistics.md derives it; bench/coverage.py measures its coverage.

With fewer than two runs there is no interval: None (null in JSON), never 0. When the runs' values
do not vary over seeds (a spread of 0 from n ≥ 2), `no_seed_spread` says so: the runs are identical,
or at least their accuracies are, and a seed spread of 0 is no measurement of it.

This module draws no verdict: imdb_rnn/verdicts.py draws them from these estimates.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property

import numpy as np

# The distributions come from their special functions, exactly as scipy.stats computes them: the
# stages that import this module start faster without scipy.stats.
from scipy import optimize, special

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # the level of every test; equivalence (TOST) uses the 1 - 2 * ALPHA = 90% interval


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided `confidence` quantile of Student's t with `df` degrees of freedom."""
    return float(special.stdtrit(df, (1 + confidence) / 2))  # as scipy.stats.t.ppf computes it


GRID = 4096  # points of the quadrature over the variance estimates' chi-square distributions, all together


@dataclass(frozen=True)
class Estimate:
    """A mean over n runs (or of a difference), with the variance of that mean from each source of error.

    seed_parts: (variance of the mean, its degrees of freedom) per independent set of runs, one for a
    configuration or a paired difference, one per side for independent sides; empty with one run.
    test_var: the test set's part; None when not measured (per-epoch curves keep no per-review results).

    The interval is a generalized (fiducial) confidence interval (Weerahandi 1993): the error of the
    mean is Z * sqrt(sum of v_k * df_k / chi²(df_k) + test_var), each seed part's chi-square
    uncertainty integrated out. The test part, estimated from 25,000 reviews, counts as known: its
    own error is under about 1% of the variance. With the seed part alone this is Student's t with
    n - 1 degrees of freedom; a test part pulls it towards the normal, but never by trusting a seed
    spread that two or three seeds measure poorly, as Satterthwaite's degrees of freedom would
    (they undercover at n = 2 and 3: docs/statistics.md).
    """

    n: int
    mean: float
    std: float | None = None  # the sample standard deviation of the runs' values (None with one run)
    seed_parts: tuple[tuple[float, float], ...] = ()
    test_var: float | None = None

    @property
    def seed_var(self) -> float | None:
        return sum(variance for variance, _ in self.seed_parts) if self.seed_parts else None

    @property
    def var(self) -> float | None:
        return None if self.seed_var is None else self.seed_var + (self.test_var or 0.0)

    @property
    def se(self) -> float | None:
        return None if self.var is None else math.sqrt(self.var)

    @property
    def test_clamped(self) -> bool:
        """The test part was estimated at or below 0 and set to 0 (max(0, ...) above), from runs that vary over seeds.

        Read from the value, so that an estimate read back from estimates.json (from_fields) knows it too: the
        smallest test part above 0 is one step of its integer sums, 1 / (N²(N - 1)n²(n - 1)) for one table,
        about 6e-16 at 25,000 reviews and 5 runs, whose square root the 8 digits kept still tell from 0.
        """
        return self.test_var == 0 and bool(self.seed_var)

    @property
    def no_seed_spread(self) -> bool:
        """Two or more runs whose values are all equal: no verdict from a spread of 0."""
        return self.seed_var == 0

    @cached_property
    def _scales(self) -> np.ndarray | tuple[float, float]:
        """The error's standard deviation over a grid of the seed parts' chi-square quantiles.

        A single seed part and no test part: (its standard error, its df), for Student's t exactly.
        """
        uncertain = [(variance, df) for variance, df in self.seed_parts if variance > 0]
        known = self.test_var or 0.0
        if len(uncertain) == 1 and known == 0:
            return math.sqrt(uncertain[0][0]), uncertain[0][1]
        size = int(round(GRID ** (1 / max(len(uncertain), 1))))
        total = np.full([size] * len(uncertain), known, dtype=float)
        for axis, (variance, df) in enumerate(uncertain):
            shape = [1] * len(uncertain)
            shape[axis] = size
            chi2 = 2 * special.gammaincinv(df / 2, (np.arange(size) + 0.5) / size)  # scipy.stats.chi2.ppf
            total = total + (variance * df / chi2).reshape(shape)
        return np.sqrt(total.ravel())

    def tail(self, x: float) -> float:
        """P(error >= x): the chance that the estimate exceeds the truth by x or more."""
        scales = self._scales
        if isinstance(scales, tuple):
            return float(special.stdtr(scales[1], -x / scales[0]))  # scipy.stats.t.sf
        return float(special.ndtr(-x / scales).mean())

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
        """The `confidence` interval of the mean; None with one run, or with no variance at all."""
        if not self.var:
            return None
        scales = self._scales
        if isinstance(scales, tuple):
            half = t_quantile(scales[1], confidence) * scales[0]
        else:
            outside = (1 - confidence) / 2
            half = optimize.brentq(lambda x: self.tail(x) - outside, 0, 1e3 * scales.max(), xtol=1e-12)
        return self.mean - half, self.mean + half

    @property
    def half_width(self) -> float | None:
        bounds = self.interval()
        return None if bounds is None else (bounds[1] - bounds[0]) / 2

    @property
    def low(self) -> float | None:
        bounds = self.interval()
        return None if bounds is None else bounds[0]

    @property
    def high(self) -> float | None:
        bounds = self.interval()
        return None if bounds is None else bounds[1]


def estimate(values: Sequence[float]) -> Estimate:
    """Mean and seed-only Student-t interval of `values` (one per seed), for measures without per-review results."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to estimate from")
    mean = math.fsum(values) / n
    if n < 2:
        return Estimate(n, mean)
    variance = math.fsum((value - mean) ** 2 for value in values) / (n - 1)
    return Estimate(n, mean, math.sqrt(variance), ((variance / n, n - 1),))


@dataclass(frozen=True)
class _Table:
    """Exact integer sums of an n x N table of per-review results (0/1, or -1/0/1 for differences)."""

    n: int
    reviews: int
    row_sums: np.ndarray
    column_sums: np.ndarray
    total: int
    squares: int

    @classmethod
    def of(cls, table: np.ndarray) -> "_Table":
        table = np.asarray(table, dtype=np.int64)
        if table.ndim != 2 or table.shape[1] < 2:
            raise ValueError(f"expected runs x reviews with at least 2 reviews, got shape {table.shape}")
        rows, columns = table.sum(axis=1), table.sum(axis=0)
        return cls(table.shape[0], table.shape[1], rows, columns, int(rows.sum()), int((table * table).sum()))

    @property
    def seed_variance(self) -> float:
        """The sample variance of the runs' means (exactly 0 when they are all equal)."""
        n, reviews = self.n, self.reviews
        return (n * int((self.row_sums**2).sum()) - self.total**2) / (n * (n - 1) * reviews**2)

    @property
    def residual_mean_square(self) -> Fraction:
        """MS_e, the seed x review interaction's mean square, with (n - 1)(N - 1) degrees of freedom (exact)."""
        n, reviews = self.n, self.reviews
        rows, columns = int((self.row_sums**2).sum()), int((self.column_sums**2).sum())
        numerator = n * reviews * self.squares - n * rows - reviews * columns + self.total**2
        return Fraction(numerator, n * reviews * (n - 1) * (reviews - 1))


def _combine(parts: Sequence[tuple[int, _Table]]) -> Estimate:
    """The estimate of sum(sign * mean of table) over tables on the same reviews, each of at least 2 runs."""
    reviews = parts[0][1].reviews
    mean = sum(sign * table.total / (table.n * reviews) for sign, table in parts)
    seed = [(table.seed_variance / table.n, table.n - 1) for _, table in parts]
    # The per-review mean over each side's runs, combined with the signs, over a common integer denominator.
    common = math.prod(table.n for _, table in parts)
    per_review = sum(sign * table.column_sums * (common // table.n) for sign, table in parts)
    # In exact fractions, so that a test part of exactly 0 is 0, never a rounding error either side of it.
    spread = Fraction(
        reviews * int((per_review**2).sum()) - int(per_review.sum()) ** 2, reviews * (reviews - 1) * common**2
    )
    interaction = sum(table.residual_mean_square / table.n for _, table in parts)
    test_var = float(max(Fraction(0), spread - interaction) / reviews)
    std = math.sqrt(parts[0][1].seed_variance) if len(parts) == 1 else None
    return Estimate(min(table.n for _, table in parts), mean, std, tuple(seed), test_var)


def _stack(runs: Mapping[int, np.ndarray], seeds: Sequence[int]) -> np.ndarray:
    return np.stack([np.asarray(runs[seed], dtype=np.int8) for seed in seeds])


def _check_reviews(*sides: Mapping[int, np.ndarray]) -> None:
    lengths = {len(array) for side in sides for array in side.values()}
    if len(lengths) > 1:
        raise ValueError(f"runs scored different numbers of test reviews ({sorted(lengths)}): not the same test set")


def _estimate(table: np.ndarray) -> Estimate:
    """The estimate of one table's mean (no interval with one run)."""
    if len(table) < 2:
        return Estimate(len(table), float(table.mean()))
    return _combine([(1, _Table.of(table))])


def accuracy(correct: Mapping[int, np.ndarray]) -> Estimate:
    """Mean test accuracy over the seeds, from each seed's per-review results (True: classified right)."""
    if not correct:
        raise ValueError("no runs to estimate from")
    _check_reviews(correct)
    return _estimate(_stack(correct, sorted(correct)))


@dataclass(frozen=True)
class Difference:
    """other - base: the estimate, how the runs were paired, and what was left out."""

    estimate: Estimate
    paired: tuple[int, ...]  # seeds both sides ran, compared run by run; empty: independent sides
    base_seeds: tuple[int, ...]  # every seed each side ran
    other_seeds: tuple[int, ...]

    @property
    def unpaired_base(self) -> tuple[int, ...]:
        """Seeds of base left out of a paired comparison (none when the sides are independent)."""
        return tuple(seed for seed in self.base_seeds if self.paired and seed not in self.paired)

    @property
    def unpaired_other(self) -> tuple[int, ...]:
        return tuple(seed for seed in self.other_seeds if self.paired and seed not in self.paired)

    def pairing(self, base: str = "base", other: str = "other") -> str:
        """In words: how many runs were paired, and which were left out."""
        if not self.paired:
            return f"independent (no seed in common): {len(self.base_seeds)} {base}, {len(self.other_seeds)} {other}"
        left = [
            f"{label} seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
            for label, seeds in ((base, self.unpaired_base), (other, self.unpaired_other))
            if seeds
        ]
        return f"{len(self.paired)} paired" + (f"; left out: {'; '.join(left)}" if left else "")


def difference(base: Mapping[int, np.ndarray], other: Mapping[int, np.ndarray]) -> Difference:
    """other - base in accuracy, from per-review results by seed: paired on the seeds both ran, if any.

    Pairing only the shared seeds keeps the estimate unbiased and uses the seed's shared luck; the
    runs of the other seeds are left out (Difference names them) rather than mixed in as independent.
    """
    if not base or not other:
        raise ValueError("a side has no runs")
    _check_reviews(base, other)
    shared = tuple(sorted(base.keys() & other.keys()))
    seeds = tuple(sorted(base)), tuple(sorted(other))
    if shared:
        return Difference(_estimate(_stack(other, shared) - _stack(base, shared)), shared, *seeds)
    a, b = _stack(base, seeds[0]), _stack(other, seeds[1])
    if min(len(a), len(b)) < 2:
        return Difference(Estimate(min(len(a), len(b)), float(b.mean() - a.mean())), (), *seeds)
    return Difference(_combine([(-1, _Table.of(a)), (1, _Table.of(b))]), (), *seeds)


def flipped(result: Estimate) -> Estimate:
    """The estimate of minus the same quantity (base - other instead of other - base)."""
    return replace(result, mean=-result.mean)


# --- the fields that metrics/estimates.json keeps of an estimate, and back ---

DIGITS = 6  # accuracies and their intervals
SE_DIGITS = 8


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def fields(result: Estimate) -> dict:
    """mean, std, the 95% interval (low, high, ci95 its half-width), seed_se and test_se: null if absent."""
    return {
        "mean": _round(result.mean, DIGITS),
        "std": _round(result.std, DIGITS),
        "low": _round(result.low, DIGITS),
        "high": _round(result.high, DIGITS),
        "ci95": _round(result.half_width, DIGITS),
        "seed_se": _round(None if result.seed_var is None else math.sqrt(result.seed_var), SE_DIGITS),
        "test_se": _round(None if result.test_var is None else math.sqrt(result.test_var), SE_DIGITS),
    }


def from_fields(n: int, values: Mapping) -> Estimate:
    """The estimate that `fields` wrote (of one table: a single configuration, or a paired difference)."""
    seed_se, test_se = values.get("seed_se"), values.get("test_se")
    return Estimate(
        n,
        values["mean"],
        values.get("std"),
        () if seed_se is None else ((seed_se**2, n - 1),),
        None if test_se is None else test_se**2,
    )
