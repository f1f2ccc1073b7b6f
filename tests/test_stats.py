"""The statistics against values computed by hand, an independent two-way ANOVA, and simulated studies."""

import math

import numpy as np
import pytest
from scipy.stats import chi2, t

from bench import coverage
from imdb_rnn import verdicts
from imdb_rnn.analysis import stats

# Two-sided 95% quantiles of Student's t, from a printed table.
T_TABLE = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 30: 2.042}


def runs(*rows: list[int], first_seed: int = 0) -> dict[int, np.ndarray]:
    """Per seed, from first_seed on, which reviews a run got right."""
    return {first_seed + seed: np.array(row, dtype=bool) for seed, row in enumerate(rows)}


def random_runs(rng, seeds, reviews=400, accuracy=0.85) -> dict[int, np.ndarray]:
    easy = rng.random(reviews)
    return {seed: rng.random(reviews) * 0.3 + easy * 0.7 < accuracy for seed in seeds}


def anova(table: np.ndarray) -> tuple[float, float, int]:
    """seed part, test part and the seed part's df of the variance of the table's mean, from textbook mean squares."""
    n, reviews = table.shape
    grand, rows, columns = table.mean(), table.mean(axis=1), table.mean(axis=0)
    ms_seed = reviews * ((rows - grand) ** 2).sum() / (n - 1)
    ms_review = n * ((columns - grand) ** 2).sum() / (reviews - 1)
    residual = table - rows[:, None] - columns[None, :] + grand
    ms_error = (residual**2).sum() / ((n - 1) * (reviews - 1))
    test = max(0.0, ms_review - ms_error) / (n * reviews)
    return ms_seed / (n * reviews), test, n - 1


@pytest.mark.parametrize("df", T_TABLE)
def test_t_quantile_matches_the_table(df):
    assert stats.t_quantile(df) == pytest.approx(T_TABLE[df], abs=5e-4)


def test_seed_only_estimate_of_five_values_by_hand():
    values = [0.85, 0.86, 0.87, 0.86, 0.86]  # mean 0.86, squared deviations sum to 0.0002
    result = stats.estimate(values)
    std = math.sqrt(0.0002 / 4)
    assert result.n == 5 and result.mean == pytest.approx(0.86) and result.std == pytest.approx(std)
    assert result.test_var is None and result.seed_parts == ((pytest.approx(std**2 / 5), 4),)
    assert result.half_width == pytest.approx(2.776 * std / math.sqrt(5), rel=1e-3)
    assert result.low == pytest.approx(0.86 - result.half_width) and result.high > result.mean


def test_one_value_has_no_interval_not_a_zero_one():
    result = stats.estimate([0.8461])
    assert (result.n, result.mean, result.std, result.half_width, result.low, result.high) == (1, 0.8461, *[None] * 4)
    assert stats.accuracy(runs([1, 0, 1, 1])).interval() is None
    assert verdicts.direction_test(result).verdict() == verdicts.NO_INTERVAL


def test_no_value_is_an_error():
    with pytest.raises(ValueError):
        stats.estimate([])


def test_accuracy_of_two_runs_of_four_reviews_by_hand():
    result = stats.accuracy(runs([1, 1, 0, 1], [1, 0, 0, 1]))
    # runs 0.75 and 0.5: s² = 0.03125, seed part s²/2. Review means 1, 0.5, 0, 1: V = 0.6875 / 3.
    # Residuals ±0.125 (six) and ±0.375 (two): MS_e = 0.375 / 3. Test part (V - MS_e / 2) / 4 = 1/24.
    v, ms_e = 0.6875 / 3, 0.125
    assert result.mean == 0.625 and result.seed_parts == ((pytest.approx(0.03125 / 2), 1),)
    assert result.test_var == pytest.approx((v - ms_e / 2) / 4) == pytest.approx(1 / 24)


def test_a_test_part_estimated_below_zero_is_clamped_and_says_so():
    result = stats.accuracy(runs([1, 0, 1, 1], [0, 1, 0, 0]))  # every review's mean 0.5: V = 0 < MS_e / 2
    assert result.test_var == 0 and result.seed_var > 0 and result.test_clamped
    assert stats.from_fields(2, stats.fields(result)).test_clamped  # read back from estimates.json too
    assert not stats.accuracy(runs([1, 1, 0, 1], [1, 0, 0, 1])).test_clamped  # the example above: 1/24
    assert not stats.accuracy(runs([1, 0, 1, 1], [1, 0, 1, 1])).test_clamped  # identical runs: no spread at all


def test_the_distributions_are_scipy_stats_bit_for_bit():
    """stats takes them from scipy.special (a faster import): the same functions scipy.stats calls."""
    for df in np.concatenate([np.linspace(0.5, 200, 400), np.arange(1, 30)]):
        assert stats.t_quantile(df) == t.ppf(0.975, df) and stats.t_quantile(df, 0.9) == t.ppf(0.95, df)
        assert stats.Estimate(3, 0.5, None, ((0.01**2, df),)).tail(0.013) == t.sf(0.013 / math.sqrt(0.01**2), df)
    two_parts = stats.Estimate(3, 0.5, None, ((0.01**2, 2.5), (0.02**2, 7)))
    grid = (np.arange(64) + 0.5) / 64  # 64 x 64 = stats.GRID points
    first, second = 0.01**2 * 2.5 / chi2.ppf(grid, 2.5), 0.02**2 * 7 / chi2.ppf(grid, 7)
    assert np.array_equal(two_parts._scales, np.sqrt((first[:, None] + second[None, :]).ravel()))


def test_the_interval_integrates_each_parts_chi_square_uncertainty():
    seed_only = stats.Estimate(3, 0.5, None, ((0.01**2, 2),))
    assert seed_only.half_width == pytest.approx(4.303 * 0.01, rel=1e-3)  # Student's t, df 2
    known_test = stats.Estimate(3, 0.5, None, ((0.0, 2),), 0.01**2)
    assert known_test.half_width == pytest.approx(1.960 * 0.01, rel=1e-3)  # a known variance: normal
    both = stats.Estimate(3, 0.5, None, ((0.01**2, 2),), 0.01**2)
    # by simulation of the pivot: Z * sqrt(v_seed * 2 / chi²_2 + v_test), its 97.5% quantile of |.|
    rng = np.random.default_rng(0)
    pivot = rng.standard_normal(400_000) * np.sqrt(0.01**2 * 2 / rng.chisquare(2, 400_000) + 0.01**2)
    assert both.half_width == pytest.approx(np.quantile(np.abs(pivot), 0.95), rel=0.02)
    assert 1.960 * both.se < both.half_width < 4.303 * both.se  # between the normal and the seeds' t
    assert both.tail(both.half_width) == pytest.approx(0.025, abs=1e-6)  # its p-values agree with it


def test_accuracy_and_paired_difference_match_the_textbook_anova():
    rng = np.random.default_rng(3)
    a, b = random_runs(rng, range(4)), random_runs(rng, range(4), accuracy=0.87)
    for result, table in (
        (stats.accuracy(a), np.stack([a[s] for s in range(4)]).astype(float)),
        (stats.difference(a, b).estimate, np.stack([b[s].astype(float) - a[s] for s in range(4)])),
    ):
        seed, test, seed_df = anova(table)
        assert result.mean == pytest.approx(table.mean())
        assert (result.seed_var, result.test_var) == pytest.approx((seed, test), rel=1e-9)
        assert result.seed_parts[0][1] == seed_df


def test_partial_seed_overlap_is_paired_on_the_shared_seeds():
    rng = np.random.default_rng(0)
    base = random_runs(rng, range(5))
    other = {0: base[0].copy(), 1: base[1].copy(), 7: base[2].copy()}
    other[0][:20] = True  # seed 0 gains up to 20 reviews, seed 1 none
    result = stats.difference(base, other)
    assert result.paired == (0, 1) and result.unpaired_base == (2, 3, 4) and result.unpaired_other == (7,)
    assert result.pairing("main", "exp") == "2 paired; left out: main seeds 2, 3, 4; exp seed 7"
    paired = stats.difference({s: base[s] for s in (0, 1)}, {s: other[s] for s in (0, 1)})
    assert result.estimate == paired.estimate  # the same as the shared seeds alone: the others do not count


def test_identical_runs_on_the_shared_seeds_give_no_interval_and_no_verdict():
    rng = np.random.default_rng(1)
    base = random_runs(rng, range(5))
    other = {seed: base[seed].copy() for seed in (0, 1)}  # log_softmax + NLL: bit for bit the baseline
    result = stats.difference(base, other).estimate
    assert (result.n, result.mean, result.interval()) == (2, 0.0, None)
    assert verdicts.direction_test(result).verdict() == "identical in all 2 runs"
    assert verdicts.equivalence_test([result], 0.01).verdict() == "identical in all 2 runs"


def test_a_constant_difference_gives_no_better():
    rng = np.random.default_rng(2)
    base = random_runs(rng, range(3))
    for seed in (1, 2):
        base[seed][:40] = base[0][:40]  # the runs differ, but not on the first 40 reviews
    other = {seed: base[seed] | (np.arange(400) < 40) for seed in range(3)}  # each gains the same reviews
    assert len({int(other[s].sum() - base[s].sum()) for s in range(3)}) == 1
    result = stats.difference(base, other).estimate
    low, high = result.interval()
    assert result.mean > 0 and result.seed_var == 0 and high - low > 0  # the test set's part: width above 0
    verdict = verdicts.direction_test(result).verdict()
    assert verdict.startswith("the same value in all 3 runs") and "better" not in verdict


def test_sides_without_a_shared_seed_are_independent_samples():
    rng = np.random.default_rng(4)
    base, other = random_runs(rng, range(3)), random_runs(rng, range(10, 14), accuracy=0.9)
    result = stats.difference(base, other)
    assert result.paired == () and result.pairing("a", "b") == "independent (no seed in common): 3 a, 4 b"
    a = np.stack([base[s] for s in range(3)]).astype(float)
    b = np.stack([other[s] for s in range(10, 14)]).astype(float)
    va, vb = a.mean(axis=1).var(ddof=1) / 3, b.mean(axis=1).var(ddof=1) / 4
    assert result.estimate.mean == pytest.approx(b.mean() - a.mean())
    assert result.estimate.seed_parts == ((pytest.approx(va), 2), (pytest.approx(vb), 3))
    # the test part: the per-review difference of the two sides' means, less each side's interaction
    spread = (b.mean(axis=0) - a.mean(axis=0)).var(ddof=1)
    interaction = sum(_ms_error(t) / len(t) for t in (a, b))
    assert result.estimate.test_var == pytest.approx(max(0.0, spread - interaction) / 400)


def _ms_error(table: np.ndarray) -> float:
    n, reviews = table.shape
    residual = table - table.mean(axis=1)[:, None] - table.mean(axis=0)[None, :] + table.mean()
    return (residual**2).sum() / ((n - 1) * (reviews - 1))


def test_one_run_on_a_side_gives_no_interval():
    result = stats.difference(runs([1, 0, 1]), runs([1, 1, 1]))
    assert result.paired == (0,) and result.estimate.interval() is None
    assert verdicts.direction_test(result.estimate).verdict() == verdicts.NO_INTERVAL


def test_different_test_sets_are_refused():
    with pytest.raises(ValueError, match="different numbers of test reviews"):
        stats.difference(runs([1, 0, 1], [1, 1, 0]), runs([1, 0, 1, 1], [0, 1, 1, 1]))


def test_a_mutated_value_changes_the_verdict():
    rng = np.random.default_rng(5)
    base = random_runs(rng, range(4), reviews=2000)
    other = {seed: right.copy() for seed, right in base.items()}
    for seed in other:
        other[seed][rng.choice(2000, 30, replace=False)] = True  # about +1.3 points on every seed, unevenly
    assert verdicts.direction_test(stats.difference(base, other).estimate).verdict() == "better"
    other[3] = base[3] & (rng.random(2000) < 0.9)  # one run loses 10% of its right answers
    assert verdicts.direction_test(stats.difference(base, other).estimate).verdict() != "better"


def test_summary_fields_round_trip():
    rng = np.random.default_rng(6)
    result = stats.accuracy(random_runs(rng, range(5)))
    back = stats.from_fields(5, stats.fields(result))
    assert back.interval() == pytest.approx(result.interval(), abs=2e-6)
    assert stats.fields(stats.accuracy(runs([1, 0, 1])))["ci95"] is None


def test_the_95_percent_intervals_cover_the_truth_in_simulated_studies():
    rows, _ = coverage.simulate(coverage.Model(), studies=300, reviews=2000, seeds=5, rng_seed=1)
    assert [row["estimand"] for row in rows] == list(coverage.ESTIMANDS)
    for row in rows:
        assert row["coverage"] >= 0.90, row
