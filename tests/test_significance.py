"""Significance and equivalence tests, Holm–Bonferroni and the wording of figures, on estimates made by hand."""

import pytest

from imdb_rnn.analysis import significance, stats


def made(mean: float, se: float, n: int = 5) -> stats.Estimate:
    """A paired difference with standard error `se`, all of it from the seeds (df n - 1)."""
    return stats.Estimate(n, mean, None, ((se**2, n - 1),), 0.0)


def test_direction_verdicts_and_their_p_values():
    t = stats.t_quantile(4)
    assert significance.direction_test(made(0.01, 0.01 / t * 0.99)).verdict() == "better"
    assert significance.direction_test(made(0.01, 0.01 / t * 1.01)).verdict() == significance.NOT_DETECTABLE
    assert significance.direction_test(made(-0.3, 0.01), "ok", "bad").verdict() == "bad"
    assert significance.direction_test(made(0.01, 0.01 / t)).p_value == pytest.approx(0.05)


def test_equivalence_reads_the_90_percent_interval():
    t90, t95 = stats.t_quantile(4, 0.90), stats.t_quantile(4)
    inside_90_not_95 = made(0.004, 0.0059 / (t90 + t95) * 2)  # 90% half-width < 0.006 < 95% half-width
    assert 0.004 + t90 * inside_90_not_95.se < 0.01 < 0.004 + t95 * inside_90_not_95.se
    assert significance.equivalence_test([inside_90_not_95], 0.01).verdict() == "holds"
    assert significance.equivalence_test([made(0.025, 0.002)], 0.01).verdict() == "does not hold"
    assert significance.equivalence_test([made(0.008, 0.004)], 0.01).verdict() == significance.NOT_DETECTABLE
    group = [made(0.001, 0.001), made(0.015, 0.001)]  # "the three layers differ little": one pair is 1.5 points
    assert significance.equivalence_test(group, 0.01).verdict() == "does not hold"
    assert significance.equivalence_test(group, 0.02).verdict() == "holds"


def test_holm_by_hand():
    assert significance.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    tests = [significance.Test(p, "better", significance.NOT_DETECTABLE) for p in (0.01, 0.04, 0.03)]
    verdicts = significance.judge(tests)
    assert [v.raw for v in verdicts] == ["better"] * 3
    assert [v.corrected for v in verdicts] == ["better", significance.NOT_DETECTABLE, significance.NOT_DETECTABLE]
    assert [v.flips for v in verdicts] == [False, True, True] and verdicts[0].family == 3


def test_a_verdict_that_changes_at_half_or_double_the_margin_is_marked():
    result = made(0.004, 0.001)  # 90% interval about [+0.19, +0.61] points
    (verdict,) = significance.judge_family(lambda margin: [significance.equivalence_test([result], margin)], 0.01)
    assert verdict.raw == "holds" and verdict.sensitive == (
        "at ±0.5 points: not detectable at this n (after Holm: not detectable at this n)"
    )
    (steady,) = significance.judge_family(
        lambda margin: [significance.equivalence_test([made(0.0, 0.0005)], margin)], 0.01
    )
    assert steady.sensitive == ""


def test_points_never_print_minus_zero():
    assert [significance.points(v) for v in (0.0128, -0.00004, 0.0)] == ["+1.28", "0.00", "0.00"]
    assert (
        significance.points_interval((-0.0001, 0.0001)) == "[-0.01, +0.01]"
        and significance.points_interval(None) == "none"
    )
