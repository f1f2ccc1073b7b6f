"""Stage `report`: reports/results.md, this run's results on one page, with a verdict on every claim of the report.

    python -m stages.report

Per architecture: the number of seeds, the mean test accuracy with its 95% interval (best-validation
epoch and last epoch), the report's figure beside ours, and how many runs diverged. Then the paired
differences between architectures, the verdict on each claim of the report (stages/published.py),
every run, the setup (data, device, params) and the `plot` stage's figures.
"""

from pathlib import Path

import pandas as pd
import yaml

from stages import published, runs
from stages.common import StageError, atomic_output, file_digest, run_stage
from stages.params import Params, load_params
from stages.paths import PLOTS_DIR, RAW_ARCHIVE, REPORT_FILE
from stages.published import Claim
from stages.stats import Estimate, estimate, paired_difference

FIGURES = {"Accuracy per epoch": "accuracy.png", "Loss per epoch": "loss.png", "Test accuracy": "test_accuracy.png"}
MEASURES = {"final_test_acc": "last epoch (the report's protocol)", "test_acc": "best-validation epoch"}


def points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{value * 100:+.2f}"


def interval(low: float | None, high: float | None, scale: float = 1, digits: int = 4) -> str:
    if low is None or high is None:
        return "none (one seed)"
    return f"[{low * scale:.{digits}f}, {high * scale:.{digits}f}]"


def mean_with_interval(result: Estimate) -> str:
    return f"{result.mean:.4f} {interval(result.low, result.high)}"


def seed_values(summary: dict, arch: str, key: str) -> dict[int, float]:
    return {int(seed): run[key] for seed, run in summary["runs"][arch].items()}


def judge(claim: Claim, summary: dict, key: str) -> str:
    """The verdict on `claim` from accuracy `key` of the runs: holds, does not hold, or not detectable at this n."""
    other = seed_values(summary, claim.other, key)
    if claim.kind in ("above", "below"):
        result = estimate(list(other.values()))
        detail = f"{claim.other} {mean_with_interval(result)}, n = {result.n}"
        if result.low is None:
            return f"not detectable at this n ({detail})"
        if result.low > published.THRESHOLD or result.high < published.THRESHOLD:
            is_above = result.low > published.THRESHOLD
            verdict = "holds" if is_above == (claim.kind == "above") else "does not hold"
            return f"{verdict}: {'above' if is_above else 'below'} {published.THRESHOLD} ({detail})"
        return f"not detectable at this n: the interval contains {published.THRESHOLD} ({detail})"
    result = paired_difference(seed_values(summary, claim.base, key), other)
    detail = (
        f"{claim.other} − {claim.base} = {points(result.mean)} points, "
        f"95% interval {interval(result.low, result.high, 100, 2)}, n = {result.n_base} paired seeds"
    )
    if result.low is None:
        return f"not detectable at this n ({detail})"
    detectable = result.low > 0 or result.high < 0
    if claim.kind == "better":
        if not detectable:
            return f"not detectable at this n ({detail})"
        return f"{'holds' if result.low > 0 else 'does not hold: the opposite is detectable'} ({detail})"
    if detectable:
        return f"does not hold: a difference is detectable ({detail})"
    return f"holds at this n: no difference detectable ({detail})"


def architecture_table(summary: dict, archs: list[str]) -> pd.DataFrame:
    rows = []
    for arch in archs:
        accuracy = {key: estimate(list(seed_values(summary, arch, key).values())) for key in MEASURES}
        reported = published.TEST_ACCURACY.get(arch)
        rows.append(
            {
                "arch": arch,
                "seeds": summary[arch]["n"],
                "test acc, best-val epoch [95% CI]": mean_with_interval(accuracy["test_acc"]),
                "test acc, last epoch [95% CI]": mean_with_interval(accuracy["final_test_acc"]),
                "the report (last epoch, 1 run)": "-" if reported is None else f"{reported:.4f}",
                "diverged": f"{summary[arch]['diverged']} of {summary[arch]['n']}",
            }
        )
    return pd.DataFrame(rows)


def difference_table(summary: dict, archs: list[str]) -> pd.DataFrame:
    rows = []
    for index, base in enumerate(archs):
        for other in archs[index + 1 :]:
            result = paired_difference(seed_values(summary, base, "test_acc"), seed_values(summary, other, "test_acc"))
            rows.append(
                {
                    "difference (best-val epoch)": f"{other} − {base}",
                    "n": result.n_base,
                    "mean (points)": points(result.mean),
                    "95% interval (points)": interval(result.low, result.high, 100, 2),
                    "verdict": f"{other} {result.verdict}" if result.verdict in ("better", "worse") else result.verdict,
                }
            )
    return pd.DataFrame(rows)


def claims_table(summary: dict, archs: list[str]) -> pd.DataFrame:
    rows = []
    for claim in published.ARCHITECTURE_CLAIMS:
        if claim.other in archs and (claim.base is None or claim.base in archs):
            rows.append(
                {"the report's claim": claim.text, **{MEASURES[key]: judge(claim, summary, key) for key in MEASURES}}
            )
    return pd.DataFrame(rows, columns=["the report's claim", *MEASURES.values()])


def runs_table(archs: list[str], seeds: list[int]) -> pd.DataFrame:
    rows = []
    for arch in archs:
        for seed in seeds:
            test, train = runs.test_metrics(arch, seed), runs.train_summary(arch, seed)
            rows.append(
                {
                    "arch": arch,
                    "seed": seed,
                    "test acc": f"{test['test_acc']:.4f}",
                    "last-epoch test acc": f"{test['final_test_acc']:.4f}",
                    "best epoch": train["best_epoch"],
                    "train minutes": f"{train['train_minutes']:.2f}",
                    "diverged": "yes" if train["diverged"] else "no",
                    "device": train["device"],
                }
            )
    return pd.DataFrame(rows)


def archive_md5() -> str:
    """MD5 of the archive that download fetched."""
    if not RAW_ARCHIVE.exists():
        raise StageError(f"{RAW_ARCHIVE} not found: it is written by stage download; run `dvc repro download`")
    return file_digest(RAW_ARCHIVE, "md5")


def render(params: Params, summary: dict, per_run: pd.DataFrame, md5: str) -> str:
    """The report's markdown."""
    used = yaml.safe_dump(params.model_dump(exclude={"data"}), sort_keys=False, default_flow_style=None)
    figures = "\n\n".join(f"![{title}]({Path('..', PLOTS_DIR, name).as_posix()})" for title, name in FIGURES.items())
    claims = claims_table(summary, params.archs)
    n = len(params.seeds)
    return f"""# Results

{n} training seeds per architecture ({", ".join(map(str, params.seeds))}), {params.epochs} epochs each. Every
accuracy is the mean over the seeds with its 95% Student-t interval; with one seed there is no interval.
*best-val epoch*: the model of the epoch with the best validation accuracy; *last epoch*: the model after
epoch {params.epochs}, as the report quotes it (one run per architecture).

{architecture_table(summary, params.archs).to_markdown(index=False, disable_numparse=True)}

## Differences between architectures

Test accuracy (best-validation epoch) of one architecture minus another's, paired by seed: a difference
whose interval contains 0 is not detectable at this n.

{difference_table(summary, params.archs).to_markdown(index=False, disable_numparse=True)}

## The report's claims

{claims.to_markdown(index=False, disable_numparse=True) if len(claims) else "None of the report's architecture claims concerns these archs."}

## Every run

{per_run.to_markdown(index=False, disable_numparse=True)}

## Setup

- data: {params.data.url} (archive MD5 `{md5}`)
- device: {", ".join(per_run["device"].unique())}
- params:

```yaml
{used}```

## Figures

{figures}
"""


def main() -> None:
    params = load_params()
    summary = runs.summary()
    per_run = runs_table(params.archs, params.seeds)
    with atomic_output(REPORT_FILE) as staged:
        staged.write_text(render(params, summary, per_run, archive_md5()))
    print(f"report: {', '.join(params.archs)} x {len(params.seeds)} seeds -> {REPORT_FILE}")


if __name__ == "__main__":
    run_stage(main)
