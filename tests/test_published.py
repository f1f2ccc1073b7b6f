"""The report's figures and claims name architectures of the registry, so a renamed module cannot drop them silently."""

from bench import reference
from imdb_rnn import architectures
from imdb_rnn.analysis import published, significance


def test_the_reports_figures_and_claims_name_registered_architectures():
    assert set(published.TEST_ACCURACY) <= set(architectures.NAMES)
    for claim in published.ARCHITECTURE_CLAIMS:
        assert set(claim.archs) <= set(architectures.NAMES) and claim.kind in significance.KINDS, claim


def test_each_kind_of_claim_names_what_it_needs():
    for claim in published.ARCHITECTURE_CLAIMS:
        expected = {"better": 2, "above": 1, "below": 1}.get(claim.kind)
        assert expected is None or len(claim.archs) == expected, claim
        assert claim.kind != "same" or len(claim.archs) >= 2, claim
        assert (claim.threshold is not None) == (claim.kind in ("above", "below")), claim


def test_the_three_layers_claim_is_judged_on_every_pair():
    (three,) = [claim for claim in published.ARCHITECTURE_CLAIMS if claim.text == "the three layers differ little"]
    assert three.pairs() == [("rnn", "lstm"), ("rnn", "gru"), ("lstm", "gru")]  # lstm − rnn, gru − rnn, gru − lstm


def test_the_benchmarks_reference_layers_name_registered_architectures():
    assert set(reference.REFERENCE_LAYERS) <= set(architectures.NAMES)
