"""claims.yaml and its schema: the committed file names registered architectures and keys of params.yaml, a wrong
entry is refused by its key, and each claim is judged on the estimates its kind says."""

import pytest
import yaml
from conftest import PROJECT

from imdb_rnn import architectures
from imdb_rnn.analysis import claims, stats
from imdb_rnn.core.common import StageError

COMMITTED = claims.load_claims(PROJECT / claims.CLAIMS_FILE)


def test_the_reports_figures_and_claims_name_registered_architectures():
    assert set(COMMITTED.report.test_accuracy) <= set(architectures.NAMES)
    for claim in COMMITTED.report.claims:
        assert set(claim.archs) <= set(architectures.NAMES) and claim.kind in claims.KINDS, claim
    assert set(COMMITTED.ablations.archs) <= set(architectures.NAMES)
    for name in COMMITTED.ablations.experiments:
        assert set(COMMITTED.ablations.archs_of(name)) <= set(architectures.NAMES), name


def test_the_ablations_change_only_keys_of_params_yaml():
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for experiment in COMMITTED.ablations.experiments.values():
        assert set(experiment.params) <= set(params) and set(experiment.seeds) <= set(params["seeds"])
    assert set(COMMITTED.ablations.archs) <= set(params["archs"])


def test_the_three_layers_claim_is_judged_on_every_pair():
    (three,) = [claim for claim in COMMITTED.report.claims if claim.text == "the three layers differ little"]
    assert three.pairs() == [("rnn", "lstm"), ("rnn", "gru"), ("lstm", "gru")]  # lstm − rnn, gru − rnn, gru − lstm
    assert claims.pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")] and claims.pairs(["a"]) == []


def test_a_claim_is_judged_on_its_accuracy_or_its_differences():
    def difference(base: str, other: str) -> stats.Estimate:
        return stats.Estimate(5, ord(other[0]) - ord(base[0]))

    def accuracy(arch: str) -> stats.Estimate:
        return stats.Estimate(5, len(arch))

    by_text = {claim.text: claim for claim in COMMITTED.report.claims}
    three = claims.judged_on(by_text["the three layers differ little"], difference, accuracy)
    assert [estimate.mean for estimate in three] == [ord("l") - ord("r"), ord("g") - ord("r"), ord("g") - ord("l")]
    (passes,) = claims.judged_on(by_text["LSTM passes 85% test accuracy"], difference, accuracy)
    assert passes.mean == len("lstm")
    with pytest.raises(ValueError, match="judged on an accuracy"):
        claims.judged_on(by_text["LSTM passes 85% test accuracy"], difference)


def test_an_ablations_claim_is_about_the_experiment_minus_the_study():
    claim = COMMITTED.ablations.experiments["nll"].claim_about("main", "nll")
    assert (claim.kind, claim.pairs()) == ("worse", [("main", "nll")])
    assert COMMITTED.ablations.changes("nll") == {"archs": ["lstm_manual"], "seeds": [0, 1, 2], "loss": "nll"}


def test_the_reports_claims_about_some_archs_only():
    about = COMMITTED.report.claims_about(["rnn", "lstm"])
    assert {claim.text for claim in about} == {
        "LSTM is slightly better than the plain RNN",
        "LSTM passes 85% test accuracy",
        "the plain RNN stays just below 85%",
    }


REPORT = "report:\n  test_accuracy: {rnn: 0.8}\n  claims:\n    - {text: x, kind: better, archs: [rnn, gru]}\n"
ABLATIONS = "ablations:\n  archs: [rnn]\n  experiments:\n    h128:\n      params: {hidden: 128}\n      seeds: [0]\n"


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        (REPORT.replace("better", "maybe"), "report.claims.0.kind: Input should be"),
        (REPORT.replace("[rnn, gru]", "[rnn]"), "report.claims.0: Value error, a 'better' claim names exactly 2"),
        (REPORT.replace("[rnn, gru]", "[rnn, rnn]"), "report.claims.0.archs: Value error, a value is listed twice"),
        (REPORT.replace(", archs: [rnn, gru]", ""), "report.claims: Value error, the claim 'x' names no archs"),
        (REPORT.replace("kind: better", "kind: above"), "report.claims.0: Value error, a 'above' claim takes a th"),
        (REPORT.replace("[rnn, gru]}", "[rnn, gru], threshold: 0.85}"), "a 'better' claim takes a threshold only"),
        (REPORT.replace("0.8}", "80}"), "report.test_accuracy.rnn: Input should be less than or equal to 1"),
        (ABLATIONS.replace("seeds: [0]\n", ""), "ablations.experiments.h128.seeds: Field required"),
        (ABLATIONS.replace("[0]", "[0, -1]"), "a seed is a non-negative integer"),
        (ABLATIONS.replace("{hidden: 128}", "{}"), "ablations.experiments.h128.params"),
        (ABLATIONS + "      reportd: 0.8\n", "ablations.experiments.h128.reportd: Extra inputs"),
        (ABLATIONS + "      claim: {text: x, kind: maybe}\n", "ablations.experiments.h128.claim.kind"),
        (ABLATIONS + "      claim: {text: x, kind: same, archs: [rnn, gru]}\n", "an ablation's claim is about"),
        (ABLATIONS + "      claim: {text: x, kind: above, threshold: 0.8}\n", "an ablation's claim is about"),
        (ABLATIONS + "      archs: [gru, gru]\n", "ablations.experiments.h128.archs: Value error, a value is listed"),
        (ABLATIONS + "      archs: []\n", "ablations.experiments.h128.archs: List should have at least 1"),
        (ABLATIONS + "      goal: 1.2\n", "ablations.experiments.h128.goal: Input should be less than or equal"),
        (ABLATIONS.replace("{hidden: 128}", "{seeds: [1]}"), "h128: Value error, params may not set seeds: give"),
    ],
)
def test_a_wrong_entry_is_refused_by_its_key(tmp_path, text, refused):
    path = tmp_path / "claims.yaml"
    path.write_text(text + (ABLATIONS if text.startswith("report") else REPORT))
    with pytest.raises(StageError, match=refused):
        claims.load_claims(path)


def test_a_missing_or_broken_file_says_what_to_do(tmp_path):
    with pytest.raises(StageError, match="claims.yaml not found: run from the project root"):
        claims.load_claims(tmp_path / "claims.yaml")
    (tmp_path / "claims.yaml").write_text("report: [")
    with pytest.raises(StageError, match="is not valid YAML"):
        claims.load_claims(tmp_path / "claims.yaml")


def test_an_entry_trains_its_own_archs_when_it_names_them(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(
        REPORT + ABLATIONS + "      archs: [gru]\n      goal: 0.9\n    other:\n      params: {lr: 0.01}\n"
        "      seeds: [0]\n"
    )
    found = claims.load_claims(path).ablations
    assert found.changes("h128") == {"archs": ["gru"], "seeds": [0], "hidden": 128}
    assert found.archs_of("other") == ["rnn"] and found.experiments["h128"].goal == 0.9
