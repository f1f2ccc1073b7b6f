"""imdb_rnn/experiments/confirmation.py: the study's best architecture is picked on validation, never on test, and
the confirmation's three claims are judged on figures that its runs' per-review results recompute; with
tools.ablations, a claims.yaml entry with a goal renders that part under the table; the committed confirmation's
figures are its committed per-review results'."""

import numpy as np
import pytest
import yaml
from conftest import N_REVIEWS, PROJECT, made_up_correct
from test_comparison import COMMITTED as MADE_UP
from test_comparison import load, markdown_cells, record

from imdb_rnn.analysis import claims, stats
from imdb_rnn.analysis.aggregated import read_groups
from imdb_rnn.analysis.baseline import Baseline
from imdb_rnn.core.common import StageError
from imdb_rnn.core.epochs import BEST, EPOCHS, LAST
from imdb_rnn.experiments import confirmation
from imdb_rnn.experiments.records import Committed, Record, Side
from tools import ablations

MARGIN = 0.01
# On test, gru is the study's best; on validation, lstm is: the pick must be lstm.
STUDY_TEST = {"lstm": {0: 0.869, 1: 0.871, 2: 0.868}, "gru": {0: 0.88, 1: 0.882, 2: 0.879}}
STUDY_VALIDATION = {"lstm": {0: 0.874, 1: 0.871, 2: 0.870}, "gru": {0: 0.869, 1: 0.870, 2: 0.868}}
CHOSEN_TEST = {0: 0.905, 1: 0.902, 2: 0.907}
PLACE = {"device": "cpu", "threads": 1, "mkl_branch": "COMPATIBLE", "aten_capability": "AVX2", "cpu": "AMD EPYC"}


def run_info(validation: dict) -> dict:
    """What runs.csv records of each run: its best validation accuracy, minutes and where it ran."""
    return {
        arch: {
            seed: {"best_val_acc": acc, "train_minutes": 5.0, "torch": "2.13.0+cpu", **PLACE}
            for seed, acc in by_seed.items()
        }
        for arch, by_seed in validation.items()
    }


def side(label: str, accuracies: dict, validation: dict | None = None) -> Side:
    correct = {
        arch: {
            seed: {e.key: made_up_correct(arch, seed, acc - (e == LAST) * 0.01, e.review_key) for e in EPOCHS}
            for seed, acc in by_seed.items()
        }
        for arch, by_seed in accuracies.items()
    }
    found = Side(label, {}, [f"{label}-rev"], correct)
    found.diverged = {arch: dict.fromkeys(by_seed, False) for arch, by_seed in accuracies.items()}
    found.run_info = run_info(validation or {})
    return found


def made_up_baseline(accuracy: float = 0.9) -> Baseline:
    right = np.zeros(N_REVIEWS, dtype=bool)
    right[: round(accuracy * N_REVIEWS)] = True
    return Baseline(accuracy, accuracy - 0.006, accuracy + 0.006, 22_500, 0.1, 0.905, right)


def test_the_study_architecture_is_picked_on_validation_not_on_test():
    assert confirmation.best_on_validation(side("main", STUDY_TEST, STUDY_VALIDATION)) == "lstm"
    with pytest.raises(StageError, match=r"main records no validation accuracy .* \(`dvc repro aggregate`\)"):
        confirmation.best_on_validation(side("main", STUDY_TEST))


def claim_rows(text: str) -> dict[str, dict]:
    return {row["claim"]: row for row in markdown_cells(text.split("Its claims at each epoch")[1])}


def test_each_claim_is_judged_on_figures_its_runs_recompute():
    study, chosen, baseline = (
        side("main", STUDY_TEST, STUDY_VALIDATION),
        side("best", {"gru": CHOSEN_TEST}),
        made_up_baseline(),
    )
    text = confirmation.render(chosen, study, 0.9, baseline, MARGIN)
    accuracies = {row["runs"]: row for row in markdown_cells(text.split("## best")[1])}
    assert set(accuracies) == {"best gru", "study lstm", "NBSVM baseline"}
    assert accuracies["study lstm"]["validation"] == "0.8717" and accuracies["study lstm"]["train minutes"] == "5.0"
    assert "ran on a machine they did not record" in text  # the made-up chosen side records nothing
    assert confirmation.where(study) == ["cpu, 1 thread(s), MKL COMPATIBLE, ATen AVX2, AMD EPYC, torch 2.13.0+cpu"]
    runs = {epoch: chosen.runs("gru", epoch.key) for epoch in (BEST, LAST)}
    for epoch in (BEST, LAST):
        mean = stats.accuracy(runs[epoch])
        low, high = mean.interval()
        assert accuracies["best gru"][f"{epoch.label}: mean [95% CI]"] == f"{mean.mean:.4f} [{low:.4f}, {high:.4f}]"
    found = claim_rows(text)
    goal, study_claim, nbsvm = found.values()
    assert goal["tested"] == "best gru > 0.9" and study_claim["tested"] == "best gru − study lstm > 0"
    assert nbsvm["tested"] == "best gru − baseline > 0"
    versus_study = stats.difference(study.runs("lstm", BEST.key), runs[BEST]).estimate
    assert study_claim[f"{BEST.label}: estimate"].startswith(f"+{versus_study.mean * 100:.2f} [")
    assert study_claim[f"{BEST.label}: verdict (after Holm)"] == "holds (holds)"
    # 0.9047 against a baseline of 0.9 on 10,000 reviews: inside the interval at this n
    assert nbsvm[f"{BEST.label}: verdict (after Holm)"] == "not detectable at this n (not detectable at this n)"


def test_an_entry_with_a_goal_is_a_confirmation_in_the_ablations_report(tmp_path, monkeypatch):
    """A claims.yaml entry with its own archs and a goal: its seeds run as experiments, its part is rendered."""
    written = yaml.safe_load((PROJECT / claims.CLAIMS_FILE).read_text())
    written["ablations"]["experiments"] = {
        "searched": {"archs": ["gru"], "params": {"hidden": 96}, "seeds": [0, 1, 2], "goal": 0.9}
    }
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(written))
    study = claims.load_claims(tmp_path / "claims.yaml").ablations
    made = record("confirmation-study", STUDY_TEST, experiment=False)  # a rev of its own: others share "main-rev"
    base = Record("main", made.rev, is_experiment=False, baseline=made.baseline)
    MADE_UP[made.rev] = Committed(**vars(MADE_UP[made.rev]) | {"run_info": run_info(STUDY_VALIDATION)})
    records = [
        base,
        *(record(f"searched-{seed}", {"gru": {seed: acc}}, hidden=96) for seed, acc in CHOSEN_TEST.items()),
    ]
    output = tmp_path / ablations.REPORT
    ablations.collect(study, records, load, output)
    monkeypatch.setattr(ablations, "read_baseline", made_up_baseline)
    text = ablations.report(study, MARGIN, {"hidden": 64}, output)
    assert "## searched: the search's choice" in text and "`lstm` (the highest mean best-validation" in text
    (row, _) = [cell for cell in markdown_cells(text) if cell["experiment"] == "searched"]  # its own table row
    assert row["arch"] == "gru" and row["changed params"] == "hidden=96"
    assert set(claim_rows(text)) == {
        "searched gru reaches the goal",
        "searched gru beats the study's best on validation",
        "searched gru beats the NBSVM baseline",
    }


COMMITTED_REPORT = PROJECT / ablations.REPORT


@pytest.mark.skipif(not COMMITTED_REPORT.with_suffix(".npz").exists(), reason="no ablations committed yet")
def test_the_committed_confirmations_means_are_its_committed_per_review_results():
    """Each confirmation's mean test accuracies and paired mean differences, recomputed with numpy alone from
    reports/ablations.npz and the baseline's metrics/baseline_correct.npz, are the ones its page shows."""
    confirmed = {
        name: entry
        for name, entry in claims.load_claims(PROJECT / claims.CLAIMS_FILE).ablations.experiments.items()
        if entry.goal
    }
    text = COMMITTED_REPORT.read_text()
    packed = read_groups(COMMITTED_REPORT.with_suffix(".npz"), "ablations.npz", "tools.ablations run")
    with np.load(PROJECT / "metrics" / "baseline_correct.npz") as saved:
        baseline = np.unpackbits(saved["correct"], count=int(saved["n_reviews"])).astype(bool)
    for name, entry in confirmed.items():
        part = text.split(f"## {name}: ")[1]
        shown = {row["runs"]: row for row in markdown_cells(part)}
        claimed = claim_rows(part)
        for arch in entry.archs:
            for epoch in (BEST, LAST):
                runs = [by_key[epoch.key] for by_key in packed[name][arch].values()]
                mean = np.mean([right.mean() for right in runs])
                assert shown[f"{name} {arch}"][f"{epoch.label}: mean [95% CI]"].startswith(f"{mean:.4f} ")
                against = np.mean([right.mean() - baseline.mean() for right in runs])
                estimate = claimed[f"{name} {arch} beats the NBSVM baseline"][f"{epoch.label}: estimate"]
                assert estimate.startswith(f"{against * 100:+.2f} ")
