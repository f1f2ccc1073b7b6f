"""claims.yaml, what the original report published: its schema, its loader, and what each claim is judged on.

One file holds the report's test accuracies and its claims about the architectures (read by the plot
and report stages), its ablations, each a DVC experiment with the report's claim and figure for it
(read by tools.ablations), and our own claim that each architecture beats the NBSVM baseline (stage
baseline; read by the report stage). A claim's kind says what it is judged on (`judged_on`): one
architecture's accuracy, or differences other − base. imdb_rnn/verdicts.py judges it; this module draws
no verdict, so that the plot stage, which only draws the report's figures, does not depend on the
verdicts' wording.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML, YAMLError

from imdb_rnn.analysis.stats import Estimate
from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import seed_list, unique

CLAIMS_FILE = Path("claims.yaml")

# better / worse: a difference other − base lies above / below 0; same: every difference lies within
# ±equivalence_margin; above / below: an accuracy lies above / below a threshold.
Kind = Literal["better", "worse", "same", "above", "below"]
KINDS: tuple[str, ...] = get_args(Kind)
THRESHOLD_KINDS = ("above", "below")  # judged on one accuracy; the others on differences
# How many archs a claim of each kind names: the fewest and the most (None: no limit).
ARCHS_PER_KIND = {"better": (2, 2), "worse": (2, 2), "same": (2, None), "above": (1, 1), "below": (1, 1)}

Accuracy = Annotated[float, Field(ge=0, le=1)]
BASELINE = "baseline"  # the NBSVM baseline (stage baseline) as a claim names it: `lstm − baseline`


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every (base, other) pair of `names`, each judged as other − base (the later minus the earlier)."""
    return [(base, other) for index, base in enumerate(names) for other in names[index + 1 :]]


class Claim(_Strict):
    """A claim, in our words, and what it is about.

    better / worse: archs [base, other], other − base lies above / below 0; same: every pair of archs
    (`pairs`) differs by less than the margin; above / below: archs [one], its accuracy lies above /
    below `threshold`. An ablation's claim names no archs: `Experiment.claim_about` gives it its pair,
    the study and the experiment.
    """

    text: str = Field(min_length=1)
    kind: Kind
    archs: list[str] = []
    threshold: float | None = Field(default=None, gt=0, lt=1)

    _archs = field_validator("archs")(unique)

    @model_validator(mode="after")
    def _what_its_kind_needs(self) -> "Claim":
        if (self.threshold is not None) != (self.kind in THRESHOLD_KINDS):
            raise ValueError(f"a '{self.kind}' claim takes a threshold only if it is one of {THRESHOLD_KINDS}")
        fewest, most = ARCHS_PER_KIND[self.kind]
        if self.archs and not fewest <= len(self.archs) <= (most or len(self.archs)):
            count = f"exactly {fewest}" if most else f"at least {fewest}"
            raise ValueError(f"a '{self.kind}' claim names {count} archs, not {len(self.archs)}")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        """The (base, other) pairs whose difference other − base the claim is about."""
        return pairs(self.archs)


def judged_on(
    claim: Claim,
    difference: Callable[[str, str], Estimate],
    accuracy: Callable[[str], Estimate] | None = None,
) -> list[Estimate]:
    """The estimates `claim` is judged on: its architecture's accuracy (above, below), else its pairs' differences.

    difference(base, other) estimates other − base; accuracy(arch) an architecture's mean accuracy.
    """
    if claim.kind in THRESHOLD_KINDS:
        if accuracy is None:
            raise ValueError(f"{claim.text!r} is judged on an accuracy, and none was given")
        return [accuracy(claim.archs[0])]
    return [difference(base, other) for base, other in claim.pairs()]


class Report(_Strict):
    """What the report published: test accuracy per architecture (last epoch, one run each) and its claims."""

    test_accuracy: dict[str, Accuracy] = Field(min_length=1)
    claims: list[Claim] = Field(min_length=1)

    @field_validator("claims")
    @classmethod
    def _each_names_its_archs(cls, claims: list[Claim]) -> list[Claim]:
        for claim in claims:
            if not claim.archs:
                raise ValueError(f"the claim {claim.text!r} names no archs")
        return claims

    def claims_about(self, archs: Sequence[str]) -> list[Claim]:
        """The claims whose every architecture is among `archs` (the others cannot be judged)."""
        return [claim for claim in self.claims if set(claim.archs) <= set(archs)]


class Experiment(_Strict):
    """One ablation: what it changes, on which seeds, and what the report claimed and measured of it.

    Or, with a goal, a confirmation: a configuration chosen on validation (tools.search), trained on its own
    archs, judged against the goal, the study's best architecture on validation and the NBSVM baseline.
    """

    params: dict[str, object] = Field(min_length=1)  # key: value, as `dvc exp run -S key=value`
    seeds: list[int] = Field(min_length=1)
    archs: list[str] | None = Field(default=None, min_length=1)  # None: the ablations' archs
    claim: Claim | None = None
    reported: Accuracy | None = None  # the report's test accuracy (one run, last epoch)
    goal: Accuracy | None = None  # a confirmation's: its mean test accuracy should lie above this

    _seeds = field_validator("seeds")(seed_list)
    _archs = field_validator("archs")(lambda archs: archs if archs is None else unique(archs))

    @model_validator(mode="after")
    def _params_are_not_archs_or_seeds(self) -> "Experiment":
        if named := {"archs", "seeds"} & set(self.params):
            raise ValueError(f"params may not set {', '.join(sorted(named))}: give them as the entry's own keys")
        return self

    @field_validator("claim")
    @classmethod
    def _about_the_experiment(cls, claim: Claim | None) -> Claim | None:
        if claim is not None and (claim.archs or claim.kind in THRESHOLD_KINDS):
            raise ValueError(
                "an ablation's claim is about the experiment minus the study: better, worse or same, no archs"
            )
        return claim

    def claim_about(self, study: str, name: str) -> Claim | None:
        """The claim, about `name` − `study` (the experiment minus the study), or None if the report made none."""
        return None if self.claim is None else self.claim.model_copy(update={"archs": [study, name]})


class Ablations(_Strict):
    """The report's ablations: the architectures each one trains, and the experiments by name."""

    archs: list[str] = Field(min_length=1)
    experiments: dict[str, Experiment] = Field(min_length=1)

    _archs = field_validator("archs")(unique)

    def archs_of(self, name: str) -> list[str]:
        """What experiment `name` trains, and its claim is judged on: its own archs, else the ablations'."""
        return self.experiments[name].archs or self.archs

    def changes(self, name: str) -> dict[str, object]:
        """The params that experiment `name` sets: its archs, its seeds and its own params."""
        experiment = self.experiments[name]
        return {"archs": self.archs_of(name), "seeds": experiment.seeds, **experiment.params}


class AgainstBaseline(_Strict):
    """Ours, not the report's: each of `archs` beats the NBSVM baseline, and the accuracy its authors published.

    Each arch's claim is a `better` claim on arch − baseline, paired review by review on the test set.
    """

    text: str = Field(min_length=1)  # what each claim says of its architecture: "<arch> <text>"
    archs: list[str] = Field(min_length=1)
    published: Accuracy  # Wang & Manning's NBSVM-bi test accuracy, trained on all 25,000 training reviews

    _archs = field_validator("archs")(unique)

    @field_validator("archs")
    @classmethod
    def _not_the_baseline(cls, archs: list[str]) -> list[str]:
        if BASELINE in archs:
            raise ValueError(f"'{BASELINE}' names the baseline itself, not an architecture")
        return archs

    def claims_about(self, archs: Sequence[str]) -> list[Claim]:
        """The claim that each of its archs among `archs` beats the baseline, in the order of `archs`."""
        return [
            Claim(text=f"{arch} {self.text}", kind="better", archs=[BASELINE, arch])
            for arch in archs
            if arch in self.archs
        ]


class Claims(_Strict):
    report: Report
    ablations: Ablations
    baseline: AgainstBaseline | None = None  # None: no claim against the NBSVM baseline


def load_claims(path: Path = CLAIMS_FILE) -> Claims:
    """claims.yaml, checked: StageError naming each wrong key."""
    try:
        return Claims.model_validate(YAML(typ="safe", pure=True).load(path.read_text()))
    except FileNotFoundError:
        raise StageError(f"{path} not found: run from the project root") from None
    except YAMLError as error:
        raise StageError(f"{path} is not valid YAML ({error})") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False))
        raise StageError(f"{path} is not a claims file ({problems}): see the comment at its top") from None
