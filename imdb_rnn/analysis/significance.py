"""Every verdict of the project, and its wording: on claims, on differences, from estimates (imdb_rnn/analysis/stats.py).

`judge_claims` judges claims (the report's on architectures, imdb_rnn/analysis/published.py; the ablations',
ablations.yaml) and `judge_differences` the direction of differences (report's pairs of
architectures, tools.compare's experiments against a baseline); stages/report.py and tools/compare.py
only render what these return. Verdicts come from `Test`s: a p-value and what it concludes when below ALPHA. A family of tests judged
together is corrected by Holm–Bonferroni (`judge`), and verdicts on a margin are checked at half and
double it (`judge_family`). When the runs' values do not vary over seeds (a spread of 0 from n ≥ 2)
no verdict is drawn: the runs are "identical in all n runs", or at least their accuracies are.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from imdb_rnn.analysis.stats import ALPHA, Estimate

NOT_DETECTABLE = "not detectable at this n"
HOLDS = "holds"
OPPOSITE = "does not hold: the opposite is detectable"
NO_INTERVAL = "no interval (fewer than 2 runs)"
MARGIN_FACTORS = (0.5, 2.0)  # a verdict that changes at these multiples of the margin is sensitive to it


@dataclass(frozen=True)
class Test:
    """One test behind a verdict: its p-value (None: no test), the verdict when p < ALPHA, and otherwise."""

    p_value: float | None
    decided: str
    undecided: str

    def verdict(self, p_value: float | None = None) -> str:
        """The verdict at ALPHA, from this test's p-value or from a corrected one."""
        p = self.p_value if p_value is None else p_value
        return self.decided if p is not None and p < ALPHA else self.undecided


def _untestable(result: Estimate) -> str | None:
    """Why `result` supports no test (one run; no spread over seeds), or None.

    A difference of 0 with no variance from either source is taken for identical runs: its table is
    all zeros, bar a coincidence of exact counts on every seed that no real study meets.
    """
    if result.seed_var is None:
        return NO_INTERVAL
    if result.no_seed_spread:
        if not result.var and result.mean == 0:
            return f"identical in all {result.n} runs"
        return f"the same value in all {result.n} runs (a spread of 0 over seeds): no verdict"
    return None


def _two_sided(result: Estimate, null: float) -> float:
    return min(1.0, 2 * result.tail(abs(result.mean - null)))


def direction_test(result: Estimate, higher: str = "better", lower: str = "worse") -> Test:
    """Is the mean above or below 0 (a difference), at ALPHA two-sided?"""
    reason = _untestable(result)
    if reason:
        return Test(None, "", reason)
    return Test(_two_sided(result, 0.0), higher if result.mean > 0 else lower, NOT_DETECTABLE)


def threshold_test(result: Estimate, threshold: float, claim_above: bool) -> Test:
    """Does the claim that the mean lies above (or below) `threshold` hold, at ALPHA two-sided?"""
    reason = _untestable(result)
    if reason:
        return Test(None, "", reason)
    holds = (result.mean > threshold) == claim_above
    side = "above" if result.mean > threshold else "below"
    decided = f"{HOLDS if holds else 'does not hold'}: {side} {threshold}"
    return Test(_two_sided(result, threshold), decided, NOT_DETECTABLE)


def equivalence_p(result: Estimate, margin: float) -> float:
    """TOST: the larger of the two one-sided p-values; below ALPHA when the 90% interval lies within ±margin."""
    upper = result.tail(margin - result.mean)  # H0: difference >= margin
    lower = result.tail(result.mean + margin)  # H0: difference <= -margin
    return max(upper, lower)


def beyond_p(result: Estimate, margin: float) -> float:
    """Two-sided p-value that the difference lies beyond the nearer end of ±margin (the 95% interval outside)."""
    return min(1.0, 2 * result.tail(abs(result.mean) - margin)) if abs(result.mean) >= margin else 1.0


def equivalence_test(results: Sequence[Estimate], margin: float) -> Test:
    """Do all these differences lie within ±margin ("differ little")?

    holds: every one's 90% interval lies within the margin (TOST at ALPHA; with several, the
    intersection-union test, no correction needed). does not hold: some difference lies beyond the
    margin by its 95% interval (Bonferroni over the differences). Otherwise not detectable at this n.
    """
    for result in results:
        reason = _untestable(result)
        if reason:
            return Test(None, "", reason)
    if all(abs(result.mean) < margin for result in results):
        return Test(max(equivalence_p(result, margin) for result in results), HOLDS, NOT_DETECTABLE)
    p = min(1.0, len(results) * min(beyond_p(result, margin) for result in results))
    return Test(p, "does not hold", NOT_DETECTABLE)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values over the tests that have one (None stays None)."""
    tested = sorted((p, index) for index, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Verdict:
    """A test's verdict alone (raw) and after Holm–Bonferroni over its family (corrected)."""

    raw: str
    corrected: str
    family: int  # the number of tests in the family
    sensitive: str = ""  # how the verdicts change at half and double the margin; empty if they do not

    @property
    def flips(self) -> bool:
        return self.raw != self.corrected


def judge(tests: Sequence[Test]) -> list[Verdict]:
    """Each test's raw verdict, and its verdict after Holm–Bonferroni over all of them."""
    corrected = holm([test.p_value for test in tests])
    family = sum(test.p_value is not None for test in tests)
    return [Verdict(test.verdict(), test.verdict(p), family) for test, p in zip(tests, corrected, strict=True)]


def judge_family(tests_at: Callable[[float], Sequence[Test]], margin: float) -> list[Verdict]:
    """judge(tests_at(margin)), each verdict marked sensitive if it changes at MARGIN_FACTORS times the margin."""
    verdicts = judge(tests_at(margin))
    others = {factor: judge(tests_at(margin * factor)) for factor in MARGIN_FACTORS}
    marked = []
    for index, verdict in enumerate(verdicts):
        changes = [
            f"at {margin_text(margin * factor)}: {other[index].raw} (after Holm: {other[index].corrected})"
            for factor, other in others.items()
            if (other[index].raw, other[index].corrected) != (verdict.raw, verdict.corrected)
        ]
        marked.append(Verdict(verdict.raw, verdict.corrected, verdict.family, "; ".join(changes)))
    return marked


KINDS = ("better", "worse", "same", "above", "below")


@dataclass(frozen=True)
class Claim:
    """A claim, in our words, and how it is judged on its estimates.

    kind: "better" / "worse": one difference (other − base) lies above / below 0; "same": every
    difference lies within ±margin (TOST on the 90% interval); "above" / "below": one accuracy lies
    above / below `threshold`. archs: for the report's architecture claims, what each is about:
    "better": (base, other); "same": the architectures whose every pair differs little, judged as later −
    earlier (`pairs`); "above" / "below": one. An ablation's claim names none: it is judged on its
    experiment minus the study.
    """

    text: str
    kind: str
    archs: tuple[str, ...] = ()
    threshold: float | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """The (base, other) pairs whose difference other − base the claim is about."""
        return [(base, other) for index, base in enumerate(self.archs) for other in self.archs[index + 1 :]]


def claim_test(claim: Claim, estimates: Sequence[Estimate], margin: float) -> Test:
    """The test of one claim on its estimates (one, or a "same" claim's differences) at `margin`."""
    if claim.kind in ("above", "below"):
        return threshold_test(estimates[0], claim.threshold, claim.kind == "above")
    if claim.kind == "same":
        return equivalence_test(estimates, margin)
    if claim.kind == "better":
        return direction_test(estimates[0], HOLDS, OPPOSITE)
    return direction_test(estimates[0], OPPOSITE, HOLDS)


def judge_claims(claims: Sequence[Claim], estimates: Sequence[Sequence[Estimate]], margin: float) -> list[Verdict]:
    """Each claim's verdict on its estimates, raw and after Holm over the claims, marked if the margin changes it."""
    return judge_family(
        lambda at: [claim_test(claim, found, at) for claim, found in zip(claims, estimates, strict=True)], margin
    )


def judge_differences(differences: Sequence[tuple[str, str, Estimate]]) -> list[Verdict]:
    """Per (base, other, estimate of other − base): "<other> better than <base>", "... worse ...", or why neither.

    Raw, and after Holm over all of them.
    """
    return judge(
        [
            direction_test(result, f"{other} better than {base}", f"{other} worse than {base}")
            for base, other, result in differences
        ]
    )


def points(value: float) -> str:
    """An accuracy difference in signed percentage points; one that rounds to zero is 0.00, never -0.00."""
    text = f"{value * 100:+.2f}"
    return "0.00" if float(text) == 0 else text


def points_interval(bounds: tuple[float, float] | None) -> str:
    """An interval of an accuracy difference in signed percentage points, or why there is none."""
    return "none" if bounds is None else f"[{points(bounds[0])}, {points(bounds[1])}]"


def standard_errors(result: Estimate) -> str:
    """The standard error from each source of error, in points: the seeds, the test set's sample."""
    if result.seed_var is None:
        return "-"
    test = "not measured" if result.test_var is None else f"{math.sqrt(result.test_var) * 100:.2f}"
    return f"seed {math.sqrt(result.seed_var) * 100:.2f}, test {test}"


def margin_text(margin: float) -> str:
    """An equivalence margin in points: ±1 point, ±0.5 points."""
    return f"±{margin * 100:g} point{'' if margin * 100 == 1 else 's'}"
