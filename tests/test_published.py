"""The report's figures and claims name architectures of the registry, so a renamed entry cannot drop them silently."""

import importlib.util

from conftest import PROJECT

from imdb_rnn import published
from imdb_rnn.classifier import ARCHITECTURES


def test_the_reports_figures_and_claims_name_registered_architectures():
    assert set(published.TEST_ACCURACY) <= set(ARCHITECTURES)
    for claim in published.ARCHITECTURE_CLAIMS:
        assert {claim.other, claim.base} - {None} <= set(ARCHITECTURES), claim
        assert claim.kind in ("better", "same", "above", "below")


def test_the_reports_ablations_are_single_param_overrides():
    for change in published.ABLATIONS:
        key, _, value = change.partition("=")
        assert key in ("hidden", "batch_size", "loss") and value


def test_the_benchmarks_reference_layers_name_registered_architectures():
    spec = importlib.util.spec_from_file_location("speed", PROJECT / "bench" / "speed.py")
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    assert set(speed.REFERENCE_LAYERS) <= set(ARCHITECTURES)
