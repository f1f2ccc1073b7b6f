"""Stage `report`: reports/results.md, this run's results on one page.

    python -m stages.report

A table with one row per arch in `archs` (test accuracy of the best-validation epoch and of the
last epoch, test loss, F1, best epoch, training minutes, diverged), then the params (every key
of params.yaml but data), the data archive's MD5 and URL, the device, and the `plot` stage's figures.
"""

from pathlib import Path

import pandas as pd
import yaml

from stages.common import StageError, atomic_output, run_stage
from stages.download import RAW_ARCHIVE, md5_of
from stages.params import Params, load_params
from stages.plot import PLOTS_DIR, TRAIN_METRICS_DIR, load_test_metrics, read_json

REPORT = Path("reports/results.md")
FIGURES = {"Accuracy per epoch": "accuracy.png", "Loss per epoch": "loss.png", "Test accuracy": "test_accuracy.png"}
# column title: (source, key, number format) with source "test" (evaluate@<arch>) or "train" (train@<arch>)
COLUMNS = {
    "test acc": ("test", "test_acc", ".4f"),
    "final-epoch test acc": ("test", "final_test_acc", ".4f"),
    "test loss": ("test", "test_loss", ".4f"),
    "F1": ("test", "f1", ".4f"),
    "best epoch": ("train", "best_epoch", ""),
    "train minutes": ("train", "train_minutes", ".2f"),
    "diverged": ("train", "diverged", ""),
}


def load_train_summary(arch: str) -> dict:
    """The summary train@<arch> wrote: best_epoch, train_minutes, diverged, device, ..."""
    return read_json(TRAIN_METRICS_DIR / arch / "metrics.json", f"train@{arch}")


def results_table(archs: list[str]) -> pd.DataFrame:
    """One row per architecture: arch, the COLUMNS, and the device it was trained on."""
    rows = []
    for arch in archs:
        sources = {"test": load_test_metrics(arch), "train": load_train_summary(arch)}
        columns = {title: sources[source][key] for title, (source, key, _) in COLUMNS.items()}
        rows.append({"arch": arch, **columns, "device": sources["train"]["device"]})
    return pd.DataFrame(rows)


def archive_md5() -> str:
    """MD5 of the archive that download fetched."""
    if not RAW_ARCHIVE.exists():
        raise StageError(f"{RAW_ARCHIVE} not found: it is written by stage download; run `dvc repro download`")
    return md5_of(RAW_ARCHIVE)


def render(params: Params, table: pd.DataFrame, md5: str) -> str:
    """The report's markdown."""
    results = table.drop(columns="device").replace({"diverged": {True: "yes", False: "no"}})
    formats = ("", *(number_format for _, _, number_format in COLUMNS.values()))
    used = yaml.safe_dump(params.model_dump(exclude={"data"}), sort_keys=False, default_flow_style=None)
    figures = "\n\n".join(f"![{title}]({Path('..', PLOTS_DIR, name).as_posix()})" for title, name in FIGURES.items())
    return f"""# Results

{results.to_markdown(index=False, floatfmt=formats)}

*test acc*: the model of the epoch with the best validation accuracy; *final-epoch test acc*: the
model after the last of {params.epochs} epochs, as the original report quotes it.

## Setup

- data: {params.data.url} (archive MD5 `{md5}`)
- device: {", ".join(table["device"].unique())}
- params:

```yaml
{used}```

## Figures

{figures}
"""


def main() -> None:
    params = load_params()
    table = results_table(params.archs)
    with atomic_output(REPORT) as staged:
        staged.write_text(render(params, table, archive_md5()))
    print(f"report: {', '.join(params.archs)} -> {REPORT}")


if __name__ == "__main__":
    run_stage(main)
