"""The project's file layout: every path a stage reads or writes, defined here once.

dvc.yaml declares the same outputs for DVC; tests/test_dvc_yaml.py checks that the two agree.
A training run is one (architecture, seed) pair, named `<arch>-<seed>` as DVC names its stages.
"""

from pathlib import Path

PARAMS_FILE = Path("params.yaml")
RAW_ARCHIVE = Path("data/raw/aclImdb_v1.tar.gz")
DATA_SOURCE_FILE = Path("metrics/data_source.json")  # which source download used, and its checksum
PROCESSED_DIR = Path("data/processed")
VOCAB_FILE = PROCESSED_DIR / "vocab.json"
STATS_FILE = PROCESSED_DIR / "stats.json"
SPLITS_FILE = Path("data/splits.json")  # per split, the archive member of each row of its .safetensors, in row order
MODELS_DIR = Path("models")
TRAIN_LOGS_DIR = Path("metrics/train")
TEST_METRICS_DIR = Path("metrics/test")
PREDICTIONS_DIR = Path("metrics/predictions")
BASELINE_METRICS_FILE = Path("metrics/baseline.json")  # the NBSVM baseline's test accuracy, its selection, where it ran
BASELINE_CORRECT_FILE = Path("metrics/baseline_correct.npz")  # which test reviews it classified right, in test order
# What aggregate writes, from the per-run files above, for plot, report and the tools (all in git).
SUMMARY_FILE = Path("metrics/summary.json")  # the headline, DVC's metrics file: per arch n and the mean at both epochs
ESTIMATES_FILE = Path("metrics/estimates.json")  # everything behind it: intervals, error parts, differences, every run
CURVES_FILE = Path("metrics/curves.csv")
RUNS_FILE = Path("metrics/runs.csv")
CORRECT_FILE = Path("metrics/correct.npz")
PLOTS_DIR = Path("plots")
REPORT_FILE = Path("reports/results.md")


def run_name(arch: str, seed: int) -> str:
    """The name of one training run, as in the stage names train@<arch>-<seed>."""
    return f"{arch}-{seed}"


def split_file(split: str, directory: Path = PROCESSED_DIR) -> Path:
    return directory / f"{split}.safetensors"


def model_file(arch: str, seed: int) -> Path:
    return MODELS_DIR / f"{run_name(arch, seed)}.pt"


def train_log_dir(arch: str, seed: int) -> Path:
    """dvclive's directory of one run: metrics.json (summary) and plots/metrics/**.tsv (per epoch)."""
    return TRAIN_LOGS_DIR / run_name(arch, seed)


def epoch_log_file(arch: str, seed: int, split: str, metric: str) -> Path:
    """One metric per epoch, as dvclive writes it: a TSV with columns step and <metric>."""
    return train_log_dir(arch, seed) / "plots" / "metrics" / split / f"{metric}.tsv"


def train_summary_file(arch: str, seed: int) -> Path:
    return train_log_dir(arch, seed) / "metrics.json"


def test_metrics_file(arch: str, seed: int) -> Path:
    return TEST_METRICS_DIR / f"{run_name(arch, seed)}.json"


def predictions_file(arch: str, seed: int) -> Path:
    """Which test reviews one run classified right, at both epochs (evaluate@<arch>-<seed>)."""
    return PREDICTIONS_DIR / f"{run_name(arch, seed)}.npz"
