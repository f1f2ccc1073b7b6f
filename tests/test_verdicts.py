"""Significance and equivalence tests, Holm–Bonferroni, the margin's effect and the verdicts' wording, on estimates
made by hand."""

import pytest

from imdb_rnn import verdicts
from imdb_rnn.analysis import stats
from imdb_rnn.analysis.claims import Claim


def made(mean: float, se: float, n: int = 5) -> stats.Estimate:
    """A paired difference with standard error `se`, all of it from the seeds (df n - 1)."""
    return stats.Estimate(n, mean, None, ((se**2, n - 1),), 0.0)


def test_direction_verdicts_and_their_p_values():
    t = stats.t_quantile(4)
    assert verdicts.direction_test(made(0.01, 0.01 / t * 0.99)).verdict() == "better"
    assert verdicts.direction_test(made(0.01, 0.01 / t * 1.01)).verdict() == verdicts.NOT_DETECTABLE
    assert verdicts.direction_test(made(-0.3, 0.01), "ok", "bad").verdict() == "bad"
    assert verdicts.direction_test(made(0.01, 0.01 / t)).p_value == pytest.approx(0.05)


def test_equivalence_reads_the_90_percent_interval():
    t90, t95 = stats.t_quantile(4, 0.90), stats.t_quantile(4)
    inside_90_not_95 = made(0.004, 0.0059 / (t90 + t95) * 2)  # 90% half-width < 0.006 < 95% half-width
    assert 0.004 + t90 * inside_90_not_95.se < 0.01 < 0.004 + t95 * inside_90_not_95.se
    assert verdicts.equivalence_test([inside_90_not_95], 0.01).verdict() == "holds"
    assert verdicts.equivalence_test([made(0.025, 0.002)], 0.01).verdict() == "does not hold"
    assert verdicts.equivalence_test([made(0.008, 0.004)], 0.01).verdict() == verdicts.NOT_DETECTABLE
    group = [made(0.001, 0.001), made(0.015, 0.001)]  # "the three layers differ little": one pair is 1.5 points
    assert verdicts.equivalence_test(group, 0.01).verdict() == "does not hold"
    assert verdicts.equivalence_test(group, 0.02).verdict() == "holds"


def test_holm_by_hand():
    assert verdicts.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    tests = [verdicts.Test(p, "better", verdicts.NOT_DETECTABLE) for p in (0.01, 0.04, 0.03)]
    judged = verdicts.judge(tests)
    assert [v.raw for v in judged] == ["better"] * 3
    assert [v.corrected for v in judged] == ["better", verdicts.NOT_DETECTABLE, verdicts.NOT_DETECTABLE]
    assert [v.flips for v in judged] == [False, True, True] and judged[0].family == 3


def test_a_verdict_that_changes_at_half_or_double_the_margin_is_marked():
    result = made(0.004, 0.001)  # 90% interval about [+0.19, +0.61] points
    (verdict,) = verdicts.judge_family(lambda margin: [verdicts.equivalence_test([result], margin)], 0.01)
    assert verdict.raw == "holds" and verdict.sensitive == (
        "at ±0.5 points: not detectable at this n (after Holm: not detectable at this n)"
    )
    assert verdict.margin_effect == verdict.sensitive and verdict.moves == ""
    (steady,) = verdicts.judge_family(lambda margin: [verdicts.equivalence_test([made(0.0, 0.0005)], margin)], 0.01)
    assert steady.sensitive == steady.margin_effect == ""


def test_a_verdict_no_margin_enters_moves_only_through_holm():
    """GRU's "slightly better" at the last epoch: its own test has no margin, but at double the margin an
    equivalence claim beside it decides, so Holm divides its p-value by one test fewer."""
    better = made(0.0097, 0.0032)  # p about 0.04: decided alone, not after Holm over two undecided tests
    same = made(0.0099, 0.002)  # shown within ±2 points (p tiny); not within ±1 or beyond ±0.5 (p over 0.05)

    def tests_at(margin: float) -> list[verdicts.Test]:
        return [verdicts.direction_test(better, "holds", verdicts.OPPOSITE), verdicts.equivalence_test([same], margin)]

    moving, equivalent = verdicts.judge_family(tests_at, 0.01)
    assert (moving.raw, moving.corrected) == ("holds", verdicts.NOT_DETECTABLE)
    assert moving.sensitive == "" and moving.moves == "at ±2 points: holds after Holm"
    assert moving.margin_effect == "no margin enters; with the other claims at ±2 points: holds after Holm"
    assert equivalent.sensitive.startswith("at ±2 points: holds") and equivalent.moves == ""
    changes = verdicts.dependence({"last epoch": moving})
    assert changes == [
        "the correction (last epoch): holds, after Holm not detectable at this n",
        "the other claims' margin, through Holm only (last epoch): at ±2 points: holds after Holm",
    ]
    assert not any(change.startswith("the margin") for change in changes)


def test_what_each_claim_tests_in_words():
    assert verdicts.tested(Claim(text="x", kind="better", archs=["rnn", "lstm"]), 0.01) == "lstm − rnn > 0"
    assert verdicts.tested(Claim(text="x", kind="worse", archs=["main", "nll"]), 0.01) == "nll − main < 0"
    assert verdicts.tested(Claim(text="x", kind="same", archs=["lstm", "gru"]), 0.01) == "gru − lstm within ±1 point"
    three = Claim(text="x", kind="same", archs=["rnn", "lstm", "gru"])
    assert verdicts.tested(three, 0.005) == "lstm − rnn, gru − rnn, gru − lstm each within ±0.5 points"
    assert verdicts.tested(Claim(text="x", kind="above", archs=["gru"], threshold=0.85), 0.01) == "gru > 0.85"
    assert verdicts.tested(Claim(text="x", kind="below", archs=["rnn"], threshold=0.85), 0.01) == "rnn < 0.85"


def test_a_claims_test_follows_its_kind():
    worse = Claim(text="x", kind="worse", archs=["main", "nll"])
    assert verdicts.claim_test(worse, [made(-0.3, 0.01)], 0.01).verdict() == verdicts.HOLDS
    assert verdicts.claim_test(worse, [made(0.3, 0.01)], 0.01).verdict() == verdicts.OPPOSITE
    below = Claim(text="x", kind="below", archs=["rnn"], threshold=0.85)
    assert verdicts.claim_test(below, [made(0.86, 0.001)], 0.01).verdict() == "does not hold: above 0.85"
    assert not verdicts.claim_test(below, [made(0.86, 0.001)], 0.01).uses_margin
