"""Numbers in words for the tables: accuracies and their intervals, differences in points, standard errors, margins."""

import math

from imdb_rnn.analysis.stats import Estimate


def accuracy_interval(result: Estimate) -> str:
    """`mean [low, high]` of an accuracy, or `mean (no interval ...)`."""
    bounds = result.interval()
    if bounds is None:
        return f"{result.mean:.4f} (no interval: {'one seed' if result.seed_var is None else 'no variance'})"
    return f"{result.mean:.4f} [{bounds[0]:.4f}, {bounds[1]:.4f}]"


def points(value: float) -> str:
    """An accuracy difference in signed percentage points; one that rounds to zero is 0.00, never -0.00."""
    text = f"{value * 100:+.2f}"
    return "0.00" if float(text) == 0 else text


def points_interval(bounds: tuple[float, float] | None) -> str:
    """An interval of an accuracy difference in signed percentage points, or why there is none."""
    return "none" if bounds is None else f"[{points(bounds[0])}, {points(bounds[1])}]"


def standard_errors(result: Estimate) -> str:
    """The standard error from each source of error, in points: the seeds, the test set's sample.

    A test part that its estimate set to 0 (stats.Estimate.test_clamped) says so.
    """
    if result.seed_var is None:
        return "-"
    if result.test_var is None:
        test = "not measured"
    else:
        test = f"{math.sqrt(result.test_var) * 100:.2f}" + (" (clamped)" if result.test_clamped else "")
    return f"seed {math.sqrt(result.seed_var) * 100:.2f}, test {test}"


def margin_text(margin: float) -> str:
    """An equivalence margin in points: ±1 point, ±0.5 points."""
    return f"±{margin * 100:g} point{'' if margin * 100 == 1 else 's'}"
