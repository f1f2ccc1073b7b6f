"""tools.search: a space file checked before any trial; a search that resumes after SIGKILL, never reads the test
split and records every trial with its reason; each trained trial a DVC experiment."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress

import optuna
import pytest
import yaml
from conftest import PROJECT, copy_project, processes_in, run_command
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from imdb_rnn.analysis.claims import CLAIMS_FILE, load_claims
from imdb_rnn.core.common import StageError
from imdb_rnn.core.paths import PROCESSED_DIR, split_file
from tools.search import space as search_space
from tools.search.driver import Driver, Running
from tools.search.experiments import TRIAL_DIR
from tools.search.study import STUDY_NAME, confirmation_entry

STATS = {"vocab_size": 62, "seq_len": 30, "truncate": "tail"}  # tokenize's stats.json of the tiny project
TINY = {"fixed": {"epochs": 40, "embed_dim": 4}, "space": {"arch": ["rnn", "gru"], "hidden": {"low": 2, "high": 8}}}
ARCH = {"arch": ["lstm"]}


def write_space(root, space: dict):
    path = root / "space.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def test_a_good_space_fixes_params_yamls_values_and_draws_the_rest(project):
    space = search_space.load_space(
        write_space(project, TINY | {"space": TINY["space"] | {"seq_len": [10, 30]}}), STATS
    )
    assert space.fixed["epochs"] == 40 and space.fixed["lr"] == 0.001 and space.fixed["vocab_size"] == 60
    assert isinstance(space.distributions["hidden"], optuna.distributions.IntDistribution)
    assert space.distributions["arch"].choices == ("rnn", "gru")


@pytest.mark.parametrize(
    ("space", "refused"),
    [
        ({"space": ARCH | {"hiden": [8]}}, "unknown key 'hiden'"),
        (
            {"space": ARCH | {"hidden": {"low": 8, "high": 2}}},
            "'hidden' = {'low': 8, 'high': 2}: a range needs numbers low < high",
        ),
        ({"space": ARCH | {"lr": {"low": 0, "high": 0.1, "log": True}}}, "and low > 0 with log: true"),
        ({"space": ARCH | {"pooling": ["max", "median"]}}, "space: 'pooling' = 'median': unknown; choose from mean"),
        ({"space": ARCH | {"hidden": {"low": 0, "high": 8}}}, "space: 'hidden' = 0: Input should be greater than 0"),
        ({"space": {"arch": ["lstm", "cnn"]}}, "space: 'arch' = 'cnn': unknown; choose from gru, gru_manual"),
        ({"fixed": {"epochs": "3"}, "space": ARCH}, "fixed: 'epochs' = '3': Input should be a valid integer"),
        ({"space": ARCH | {"threads": [1, 2]}}, "'threads' is one per search"),
        (
            {"space": ARCH | {"seq_len": [20, 60]}},
            "'seq_len' = 60, 'truncate' = 'tail': the tokenized data keeps 30 tokens",
        ),
        ({"space": ARCH | {"vocab_size": [10, 100]}}, "'vocab_size' = 100: the tokenized data has 60"),
        ({"space": "hidden"}, "expected a mapping with `space:`"),
        ({"space": {"hidden": [4, 8]}}, "name the architecture: `arch` under fixed (one) or space (a choice)"),
    ],
)
def test_a_bad_space_is_refused_naming_the_key_and_value(project, space, refused):
    with pytest.raises(StageError, match="space.yaml") as error:
        search_space.load_space(write_space(project, space), STATS)
    assert refused in str(error.value)


def load_study(root) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(root / "search/study.journal")))
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


def kill_during_second_trial(args: list[str], root) -> str:
    """Start the search; SIGKILL its whole process group once trial 1 has reported an epoch. Its output."""
    process = subprocess.Popen(
        args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    journal, deadline, seen = root / "search/study.journal", time.monotonic() + 240, False
    try:
        while not seen and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            seen = journal.exists() and any(
                trial.number == 1 and trial.intermediate_values for trial in load_study(root).trials
            )
        assert seen and process.poll() is None, "trial 1 never reported an epoch:\n" + process.stdout.read()
    finally:
        with suppress(ProcessLookupError):  # already ended, which the assertion above reports
            os.killpg(process.pid, signal.SIGKILL)
    output = process.communicate()[0]
    deadline = time.monotonic() + 10
    while processes_in(root) and time.monotonic() < deadline:  # the group's last processes a moment to go
        time.sleep(0.1)
    return output


@pytest.fixture(scope="module")
def searched(reproduced, tmp_path_factory):
    """The tiny study, its test split removed: a search of 2 trials killed in its second, then rerun for 1 more
    and the best trial rescored from seed 1."""
    root = copy_project(reproduced, tmp_path_factory.mktemp("search") / "project")
    split_file("test", root / PROCESSED_DIR).unlink()  # the search must not need it
    space = write_space(root, TINY)
    search = [sys.executable, "-m", "tools.search", "--space", str(space), "-j", "1"]
    killed = kill_during_second_trial([*search, "--trials", "2"], root)
    resumed = run_command([*search, "--trials", "1", "--rescore-top", "1", "--rescore-seeds", "1"], root).stdout
    return root, killed, resumed


def test_a_search_killed_mid_trial_resumes_retrying_that_trial_and_repeating_no_finished_one(searched):
    root, killed, resumed = searched
    assert "trial 0 complete" in killed
    assert processes_in(root) == []
    trials = load_study(root).trials
    assert [trial.state for trial in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    stranded, retry = trials[1], trials[2]
    assert "its search stopped during it" in stranded.user_attrs["reason"]
    assert "trials [1] were left running" in resumed
    # the killed trial is retried with its params and counts in the rerun's budget; trial 0 is not run again
    assert [trial.user_attrs.get("retry_of") for trial in trials] == [None, None, 1]
    assert retry.params == stranded.params and "trial 0 started" not in resumed
    shown = run_command([sys.executable, "-m", "tools.search", "--trials", "0", "--rescore-seeds", "1"], root).stdout
    assert shown.startswith("study: 3 trials (2 complete, 1 fail)\nbest trial ")  # no cluster, no data needed
    best = max(trials[::2], key=lambda trial: trial.value)
    assert f"rescoring trial {best.number} from seed 1" in resumed
    assert f"chosen on validation: trial {best.number}; as a claims.yaml entry" in shown  # the only one rescored
    assert load_study(root).user_attrs["rescored"][str(best.number)]["1"] > 0
    budget = [sys.executable, "-m", "tools.search", "--trials", "0", "--rescore-seeds", "1", "--max-minutes", "1e-6"]
    over = run_command([*budget, "--plot", "search.png"], root).stdout
    assert "over the cost budget of 1e-06 min: not chosen" in over and "chosen on validation: none" in over
    assert "figure: search.png" in over and (root / "search.png").read_bytes().startswith(b"\x89PNG")
    assert load_study(root).user_attrs["chosen"] is None
    for trial in trials[::2]:
        curve = trial.user_attrs["curve"]
        assert [row["epoch"] for row in curve] == list(range(1, 41)) and trial.value == max(r["val_acc"] for r in curve)
        assert trial.user_attrs["config"]["epochs"] == 40 and trial.user_attrs["cpu"]


def test_the_search_runs_without_the_test_split_and_stores_no_test_figure(searched):
    root, _, _ = searched
    assert '"test' not in (root / "search/study.journal").read_text()  # no key or value that starts with test
    listed = run_command(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], root).stdout.split()
    refs = [ref for ref in listed if not ref.startswith("refs/exps/exec/")]  # not DVC's own EXEC_* refs
    assert sorted(ref.rsplit("/", 1)[1] for ref in refs) == ["search-000", "search-002"]
    for ref in refs:
        metrics = run_command(["git", "show", f"{ref}:{TRIAL_DIR}/metrics.json"], root).stdout
        params = run_command(["git", "show", f"{ref}:{TRIAL_DIR}/params.yaml"], root).stdout
        assert "val" in json.loads(metrics) and "test" not in metrics + params


class Finished:
    """A Dask future that has ended, with a result or an error."""

    def __init__(self, result: dict | None = None, error: Exception | None = None) -> None:
        self._result, self._error = result, error

    def done(self) -> bool:
        return True

    def result(self) -> dict:
        if self._error:
            raise self._error
        return self._result


@pytest.mark.parametrize(
    ("ended", "reason"),
    [
        (Finished(error=RuntimeError("worker lost")), "RuntimeError: worker lost"),
        (
            Finished({"outcome": "diverged", "reason": "the training loss diverged (lr 5)", "curve": []}),
            "diverged (lr 5)",
        ),
    ],
)
def test_a_failed_or_diverged_trial_is_recorded_with_its_reason(ended, reason):
    study = optuna.create_study(direction="maximize")
    driver = Driver.__new__(Driver)  # no cluster: only how a run's end is recorded
    driver.study, driver.experiments = study, False
    driver.running = {"t0": Running(ended, replies=None, epochs=3, trial=study.ask())}
    driver.finish("t0")
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL and reason in trial.user_attrs["reason"] and not driver.running


class Replies(list):
    put = list.append


@pytest.mark.parametrize(("epoch", "word"), [(2, "prune"), (3, "go")])
def test_the_pruners_word_goes_back_with_its_epoch_and_the_last_epoch_is_never_pruned(epoch, word):
    class Trial:
        def report(self, value, step):
            self.reported = (value, step)

        def should_prune(self):
            return True

    driver = Driver.__new__(Driver)
    trial, replies = Trial(), Replies()
    driver.running = {"t0": Running(Finished(), replies=replies, epochs=3, trial=trial)}
    driver.answer({"key": "t0", "epoch": epoch, "val_acc": 0.5})
    assert trial.reported == (0.5, epoch) and replies == [(epoch, word)]
    driver.answer({"key": "t9", "epoch": 1, "val_acc": 0.5})  # a run already recorded: nothing to answer


def test_a_trial_becomes_a_claims_entry_of_what_it_changes_under_the_studys_protocol():
    config = {"arch": "gru", "hidden": 64, "layers": 2, "epochs": 8, "portable_numerics": False, "threads": 1}
    study = {"hidden": 64, "layers": 1, "epochs": 10, "portable_numerics": True, "threads": 1}
    assert confirmation_entry(config, study) == {"archs": ["gru"], "params": {"layers": 2, "epochs": 8}}


COMMITTED_STUDY = PROJECT / "search" / "study.journal"


@pytest.mark.skipif(not COMMITTED_STUDY.exists(), reason="no search committed yet")
def test_the_committed_confirmation_is_the_configuration_the_search_chose():
    study = optuna.load_study(study_name=STUDY_NAME, storage=JournalStorage(JournalFileBackend(str(COMMITTED_STUDY))))
    confirmations = {
        name: entry for name, entry in load_claims(PROJECT / CLAIMS_FILE).ablations.experiments.items() if entry.goal
    }
    if study.user_attrs.get("chosen") is None:
        assert confirmations == {}, "claims.yaml confirms a configuration before the search chose one (--rescore-top)"
        return
    expected = confirmation_entry(
        study.trials[study.user_attrs["chosen"]].user_attrs["config"],
        yaml.safe_load((PROJECT / "params.yaml").read_text()),
    )
    ((name, entry),) = confirmations.items()
    assert {"archs": entry.archs, "params": entry.params} == expected, name
