"""The statistics against values computed by hand (t quantiles from a printed table)."""

import math

import pytest

from imdb_rnn import stats

# Two-sided 95% quantiles of Student's t, from a printed table.
T_TABLE = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 30: 2.042}


@pytest.mark.parametrize("df", T_TABLE)
def test_t_quantile_matches_the_table(df):
    assert stats.t_quantile(df) == pytest.approx(T_TABLE[df], abs=5e-4)


def test_estimate_of_five_values_by_hand():
    values = [0.85, 0.86, 0.87, 0.86, 0.86]  # mean 0.86, squared deviations sum to 0.0002
    result = stats.estimate(values)
    std = math.sqrt(0.0002 / 4)
    assert result.n == 5 and result.mean == pytest.approx(0.86)
    assert result.std == pytest.approx(std)
    assert result.half_width == pytest.approx(2.776 * std / math.sqrt(5), rel=1e-3)
    assert result.low == pytest.approx(0.86 - result.half_width) and result.high > result.mean


def test_one_value_has_no_interval_not_a_zero_one():
    result = stats.estimate([0.8461])
    assert (result.n, result.mean, result.std, result.half_width, result.low, result.high) == (
        1,
        0.8461,
        None,
        None,
        None,
        None,
    )


def test_no_value_is_an_error():
    with pytest.raises(ValueError):
        stats.estimate([])


def test_paired_difference_by_hand():
    base = {0: 0.80, 1: 0.82, 2: 0.81}
    other = {0: 0.82, 1: 0.845, 2: 0.825, 7: 0.99}  # seed 7 is not shared: left out
    result = stats.paired_difference(base, other)
    # differences 0.02, 0.025, 0.015: mean 0.02, std 0.005, half-width 4.303 * 0.005 / sqrt(3)
    half = 4.303 * 0.005 / math.sqrt(3)
    assert result.method == "paired" and result.n_base == result.n_other == 3
    assert result.mean == pytest.approx(0.02)
    assert (result.low, result.high) == pytest.approx((0.02 - half, 0.02 + half), rel=1e-3)
    assert result.verdict == "better"


def test_welch_difference_by_hand():
    base, other = [0.80, 0.82, 0.84], [0.83, 0.87]
    # variances 0.0004 and 0.0008; se^2 = 0.0004/3 + 0.0008/2; df = se^4 / ((0.0004/3)^2/2 + (0.0008/2)^2/1)
    va, vb = 0.0004 / 3, 0.0008 / 2
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 1)
    half = stats.t_quantile(df) * math.sqrt(va + vb)
    result = stats.welch_difference(base, other)
    assert df == pytest.approx(32 / 19)  # in units of 0.0004: (4/3)^2 / (1/18 + 1)
    assert result.method == "welch" and (result.n_base, result.n_other) == (3, 2)
    assert result.mean == pytest.approx(0.03)
    assert (result.low, result.high) == pytest.approx((0.03 - half, 0.03 + half))
    assert result.verdict == stats.NO_DIFFERENCE  # an interval this wide contains 0


def test_difference_pairs_only_when_both_sides_ran_the_same_seeds():
    same = stats.difference({0: 0.8, 1: 0.81}, {0: 0.82, 1: 0.84})
    other_seeds = stats.difference({0: 0.8, 1: 0.81}, {2: 0.82, 3: 0.84})
    assert same.method == "paired" and other_seeds.method == "welch"


def test_a_worse_side_and_a_constant_difference():
    worse = stats.paired_difference({0: 0.85, 1: 0.86, 2: 0.87}, {0: 0.50, 1: 0.50, 2: 0.50})
    assert worse.verdict == "worse" and worse.high < 0
    identical = stats.paired_difference({0: 0.85, 1: 0.86}, {0: 0.85, 1: 0.86})
    assert (identical.low, identical.high) == (0, 0) and identical.verdict == stats.NO_DIFFERENCE


def test_a_deterministic_failure_against_a_constant_baseline_is_detectable():
    result = stats.welch_difference([0.5, 0.5], [0.7, 0.7])
    assert (result.low, result.high) == pytest.approx((0.2, 0.2)) and result.verdict == "better"


def test_with_one_run_on_a_side_there_is_no_verdict():
    result = stats.difference({0: 0.85}, {0: 0.86})
    assert result.low is None and result.verdict.startswith("no interval")
