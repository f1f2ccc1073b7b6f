"""Read what the aggregate stage wrote, for plot, report and the tools: they read no per-run file.

Also the layout of those files, so that it is defined once: the headline (metrics/summary.json, DVC's
metrics file, for people: no stage reads it), the estimates behind it (metrics/estimates.json) and packed
per-review results (metrics/correct.npz; the ablations' reports/ablations.npz uses the same packing).
"""

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.analysis import stats
from imdb_rnn.core.common import StageError, missing_input, read_json
from imdb_rnn.core.epochs import BY_KEY, BY_REVIEW_KEY, EPOCHS
from imdb_rnn.core.paths import CORRECT_FILE, CURVES_FILE, ESTIMATES_FILE, RUNS_FILE

# estimates.json keeps the difference other − base of two architectures at diff.<other>.vs.<base>.<epoch key>:
# nested keys, never a name split on a character that an architecture's name may hold.
DIFF, VERSUS = "diff", "vs"
RUNS = "runs"  # estimates.json: runs.<arch>.<seed>.{<epoch keys>, diverged}
REVIEWS_KEY = "n_reviews"  # a packed .npz: how many test reviews each packed array holds

# Per architecture, seed and epoch key: whether the run classified each test review right.
Correct = dict[str, dict[int, dict[str, np.ndarray]]]


def headline(estimates: Mapping) -> dict:
    """summary.json from estimates.json: per arch n and the mean test accuracy, `best` (best-validation epoch), `last`.

    Few values at short keys (`<arch>.<n|best|last>`, the epochs' short names), so that `dvc metrics show` and the
    README's `dvc exp show` fit a 200-column terminal; the intervals are in estimates.json.
    """
    archs = [arch for arch in estimates if arch not in (DIFF, RUNS)]
    return {
        arch: {"n": estimates[arch]["n"], **{epoch.review_key: estimates[arch][epoch.key]["mean"] for epoch in EPOCHS}}
        for arch in archs
    }


def estimates() -> dict:
    """Per arch n, diverged and every estimate's fields; every pair's differences; every run (metrics/estimates.json)."""
    return read_json(ESTIMATES_FILE, "aggregate")


def _csv(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise missing_input(path, "aggregate") from None


def curves() -> pd.DataFrame:
    """Per arch, split and epoch, over seeds: n and, for acc and loss, the mean and its 95% interval."""
    return _csv(CURVES_FILE)


def runs() -> pd.DataFrame:
    """One row per run: arch, seed, both test accuracies, best epoch, minutes, diverged, where it ran."""
    return _csv(RUNS_FILE)


def estimate(estimates: dict, arch: str, key: str) -> stats.Estimate:
    """The estimate of `arch`'s mean accuracy at epoch key `key` that estimates.json holds."""
    return stats.from_fields(estimates[arch]["n"], estimates[arch][key])


def difference(estimates: dict, base: str, other: str, key: str) -> stats.Estimate:
    """The paired difference other − base at epoch key `key` (whichever way round estimates.json stored it)."""
    differences = estimates[DIFF]
    if base in differences.get(other, {}).get(VERSUS, {}):
        entry = differences[other][VERSUS][base][key]
        return stats.from_fields(entry["n"], entry)
    entry = differences[base][VERSUS][other][key]
    return stats.flipped(stats.from_fields(entry["n"], entry))


def review_count(correct: Correct) -> int:
    """How many test reviews every run scored; StageError if they differ (runs evaluated on different test sets)."""
    lengths = {len(right) for by_seed in correct.values() for by_key in by_seed.values() for right in by_key.values()}
    if len(lengths) != 1:
        raise StageError(
            f"the runs scored different numbers of test reviews ({sorted(lengths)}): they were evaluated on "
            "different test sets; rerun evaluate for every run (`dvc repro`)"
        )
    return lengths.pop()


def pack_correct(groups: Mapping[str, Correct]) -> dict[str, np.ndarray]:
    """The arrays of a packed .npz: `[<group>/]<arch>/<seed>/<best|last>`, bits packed, and `n_reviews`.

    `groups` maps a group's name to its runs; the group "" (the study's, in correct.npz) adds no prefix.
    """
    packed = {
        f"{group}/" * bool(group) + f"{arch}/{seed}/{BY_KEY[key].review_key}": np.packbits(right)
        for group, correct in groups.items()
        for arch, by_seed in correct.items()
        for seed, by_key in by_seed.items()
        for key, right in by_key.items()
    }
    everything = {f"{group}/{arch}": by_seed for group, correct in groups.items() for arch, by_seed in correct.items()}
    return {REVIEWS_KEY: np.array(review_count(everything)), **packed}


def read_groups(source: Path | bytes, origin: str, rewrite: str) -> dict[str, Correct]:
    """Every run's per-review results from a packed .npz (a path, or its bytes), per group ("" for none).

    origin names the file in messages; rewrite is the command that writes it again.
    """
    try:
        with np.load(io.BytesIO(source) if isinstance(source, bytes) else source) as saved:
            reviews = int(saved[REVIEWS_KEY])
            groups: dict[str, Correct] = {}
            for entry in saved.files:
                if entry == REVIEWS_KEY:
                    continue
                *group, arch, seed, epoch = entry.split("/")
                right = np.unpackbits(saved[entry], count=reviews).astype(bool)
                by_seed = groups.setdefault("/".join(group), {}).setdefault(arch, {})
                by_seed.setdefault(int(seed), {})[BY_REVIEW_KEY[epoch].key] = right
            return groups
    except FileNotFoundError:
        raise StageError(f"{origin} not found: write it with `{rewrite}`") from None
    except (OSError, ValueError, KeyError) as error:
        raise StageError(f"{origin} is damaged or of an older layout ({error}): rewrite it with `{rewrite}`") from None


def read_correct(source: Path | bytes = CORRECT_FILE, origin: str | None = None) -> Correct:
    """The study's per-review results from correct.npz: a path, or its bytes (read at a revision, say)."""
    return read_groups(source, origin or str(source), "dvc repro aggregate").get("", {})
