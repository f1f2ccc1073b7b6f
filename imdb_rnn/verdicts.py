"""Every verdict of the project and its wording: on claims and on differences, from estimates (imdb_rnn/analysis/stats.py).

`judge_claims` judges claims (claims.yaml: the report's, on architectures, and its ablations') and
`judge_differences` the direction of differences (the report's pairs of architectures, an experiment
against a baseline in tools.compare); the report stage and the tools render what these return, and
what `tested`, `Verdict.margin_effect` and `dependence` say of it. Verdicts come from `Test`s: a
p-value and what it concludes when below ALPHA. A family of tests judged together is corrected by
Holm–Bonferroni (`judge`), and each verdict is checked at half and double the margin (`judge_family`):
one whose test uses the margin may change itself; one that no margin enters may still change after
Holm, when the others' p-values move its rank. When the runs' values do not vary over seeds (a spread
of 0 from n ≥ 2) no verdict is drawn: the runs are "identical in all n runs", or at least their
accuracies are.

Kept apart from imdb_rnn/analysis (a folder the plot stage depends on), so that rewording a verdict
reruns the report stage only.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from imdb_rnn.analysis.claims import THRESHOLD_KINDS, Claim
from imdb_rnn.analysis.formatting import margin_text
from imdb_rnn.analysis.stats import ALPHA, Estimate

NOT_DETECTABLE = "not detectable at this n"
HOLDS = "holds"
OPPOSITE = "does not hold: the opposite is detectable"
NO_INTERVAL = "no interval (fewer than 2 runs)"
MARGIN_FACTORS = (0.5, 2.0)  # a verdict that changes at these multiples of the margin is sensitive to it


@dataclass(frozen=True)
class Test:
    """One test behind a verdict: its p-value (None: no test), the verdict when p < ALPHA, and otherwise.

    uses_margin: whether the equivalence margin enters the test itself.
    """

    p_value: float | None
    decided: str
    undecided: str
    uses_margin: bool = False

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
        p = max(equivalence_p(result, margin) for result in results)
        return Test(p, HOLDS, NOT_DETECTABLE, uses_margin=True)
    p = min(1.0, len(results) * min(beyond_p(result, margin) for result in results))
    return Test(p, "does not hold", NOT_DETECTABLE, uses_margin=True)


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
    """A test's verdict alone (raw) and after Holm–Bonferroni over its family (corrected).

    sensitive: how both change at half and double the margin, for a test the margin enters; moves: how
    the corrected one changes there for a test it does not enter (through the others' p-values, which
    move its rank under Holm). Empty when they do not change.
    """

    raw: str
    corrected: str
    family: int  # the number of tests in the family
    sensitive: str = ""
    moves: str = ""

    @property
    def flips(self) -> bool:
        return self.raw != self.corrected

    @property
    def margin_effect(self) -> str:
        """What changes at half and double the margin, in words; empty if nothing does."""
        if self.moves:
            return f"no margin enters; with the other claims {self.moves}"
        return self.sensitive


def judge(tests: Sequence[Test]) -> list[Verdict]:
    """Each test's raw verdict, and its verdict after Holm–Bonferroni over all of them."""
    corrected = holm([test.p_value for test in tests])
    family = sum(test.p_value is not None for test in tests)
    return [Verdict(test.verdict(), test.verdict(p), family) for test, p in zip(tests, corrected, strict=True)]


def judge_family(tests_at: Callable[[float], Sequence[Test]], margin: float) -> list[Verdict]:
    """judge(tests_at(margin)), each verdict marked if it changes at MARGIN_FACTORS times the margin."""
    tests = tests_at(margin)
    verdicts = judge(tests)
    others = {margin * factor: judge(tests_at(margin * factor)) for factor in MARGIN_FACTORS}
    marked = []
    for index, (test, verdict) in enumerate(zip(tests, verdicts, strict=True)):
        changed = {
            margin_text(at): other[index]
            for at, other in others.items()
            if (other[index].raw, other[index].corrected) != (verdict.raw, verdict.corrected)
        }
        if test.uses_margin:
            sensitive = "; ".join(
                f"at {at}: {other.raw} (after Holm: {other.corrected})" for at, other in changed.items()
            )
            marked.append(Verdict(verdict.raw, verdict.corrected, verdict.family, sensitive=sensitive))
        else:  # only the corrected verdict can change, with the other tests' p-values
            moves = "; ".join(f"at {at}: {other.corrected} after Holm" for at, other in changed.items())
            marked.append(Verdict(verdict.raw, verdict.corrected, verdict.family, moves=moves))
    return marked


def claim_test(claim: Claim, estimates: Sequence[Estimate], margin: float) -> Test:
    """The test of one claim on its estimates (claims.judged_on) at `margin`."""
    if claim.kind in THRESHOLD_KINDS:
        return threshold_test(estimates[0], claim.threshold, claim.kind == "above")
    if claim.kind == "same":
        return equivalence_test(estimates, margin)
    if claim.kind == "better":
        return direction_test(estimates[0], HOLDS, OPPOSITE)
    return direction_test(estimates[0], OPPOSITE, HOLDS)


def tested(claim: Claim, margin: float) -> str:
    """What the verdict on `claim` tests, in words: `lstm − rnn > 0`, `gru − lstm within ±1 point`, `lstm > 0.85`."""
    differences = [f"{other} − {base}" for base, other in claim.pairs()]
    if claim.kind in THRESHOLD_KINDS:
        return f"{claim.archs[0]} {'>' if claim.kind == 'above' else '<'} {claim.threshold}"
    if claim.kind == "same":
        return f"{', '.join(differences)}{' each' if len(differences) > 1 else ''} within {margin_text(margin)}"
    return f"{differences[0]} {'>' if claim.kind == 'better' else '<'} 0"


def judge_claims(claims: Sequence[Claim], estimates: Sequence[Sequence[Estimate]], margin: float) -> list[Verdict]:
    """Each claim's verdict on its estimates, raw and after Holm over the claims, marked if the margin changes it."""
    return judge_family(
        lambda at: [claim_test(claim, found, at) for claim, found in zip(claims, estimates, strict=True)], margin
    )


def dependence(by_label: Mapping[str, Verdict]) -> list[str]:
    """What one claim's verdicts (per protocol, by its label) depend on, in words; empty if on nothing.

    The protocol, when the verdicts differ between protocols; the correction, when Holm changes one; the
    margin, only where it enters the test; else the other claims' margin, when it moves the rank under Holm.
    """
    changes = []
    if len({(verdict.raw, verdict.corrected) for verdict in by_label.values()}) > 1:
        changes.append(
            "the protocol: "
            + "; ".join(
                f"{label}: {verdict.raw} (after Holm: {verdict.corrected})" for label, verdict in by_label.items()
            )
        )
    changes += [
        f"the correction ({label}): {verdict.raw}, after Holm {verdict.corrected}"
        for label, verdict in by_label.items()
        if verdict.flips
    ]
    changes += [
        f"the margin ({label}): {verdict.sensitive}" for label, verdict in by_label.items() if verdict.sensitive
    ]
    changes += [
        f"the other claims' margin, through Holm only ({label}): {verdict.moves}"
        for label, verdict in by_label.items()
        if verdict.moves
    ]
    return changes


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
