"""Numbers in words: points, intervals, standard errors by source (a clamped test part said so), margins."""

from imdb_rnn.analysis import formatting, stats


def test_points_never_print_minus_zero():
    assert [formatting.points(v) for v in (0.0128, -0.00004, 0.0)] == ["+1.28", "0.00", "0.00"]
    assert formatting.points_interval((-0.0001, 0.0001)) == "[-0.01, +0.01]"
    assert formatting.points_interval(None) == "none"


def test_standard_errors_by_source_and_a_clamped_test_part():
    assert formatting.standard_errors(stats.Estimate(5, 0.01, None, ((1e-6, 4),), 4e-6)) == "seed 0.10, test 0.20"
    clamped = stats.Estimate(5, 0.01, None, ((1e-6, 4),), 0.0)
    assert formatting.standard_errors(clamped) == "seed 0.10, test 0.00 (clamped)"
    identical = stats.Estimate(3, 0.0, None, ((0.0, 2),), 0.0)  # no spread at all: nothing was clamped
    assert formatting.standard_errors(identical) == "seed 0.00, test 0.00"
    assert formatting.standard_errors(stats.Estimate(5, 0.01, None, ((1e-6, 4),))) == "seed 0.10, test not measured"
    assert formatting.standard_errors(stats.Estimate(1, 0.86)) == "-"


def test_margins_in_points():
    assert [formatting.margin_text(m) for m in (0.01, 0.005, 0.02)] == ["±1 point", "±0.5 points", "±2 points"]
