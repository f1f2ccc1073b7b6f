"""Compare experiments with a baseline: per architecture and epoch, the difference in mean test accuracy and a verdict.

    python -m tools.compare main hidden128 batch128          # experiment names or git revisions
    python -m tools.compare main 'h128-*' -o docs/h128.md    # a glob: a group of experiments, seeds pooled
    python -m tools.compare main hidden128 --epoch last      # one protocol; both by default

Pairs each side with the baseline on the seeds both ran and judges each row, Holm–Bonferroni over the
rows of each epoch (imdb_rnn/experiments/comparison.py; records.py finds the sides). Prints a markdown
table; -o writes it to a file and, beside it (the same name, .json), every per-seed accuracy of every
side and each row's statistics, and (.npz) the per-review results of every run compared, from which the
whole table can be recomputed (tests/test_comparison.py does).
"""

import argparse
from pathlib import Path

from imdb_rnn.core.common import run_stage
from imdb_rnn.core.epochs import EPOCHS
from imdb_rnn.experiments import comparison
from imdb_rnn.experiments.records import experiment_records, resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="an experiment name, a git revision, or a glob over experiment names")
    parser.add_argument("experiments", nargs="+", metavar="EXP", help="experiments to compare with the baseline")
    parser.add_argument(
        "--epoch",
        choices=[*(epoch.review_key for epoch in EPOCHS), "both"],
        default="both",
        help="the model compared: the best-validation epoch's, the last epoch's, or both (default)",
    )
    parser.add_argument("-o", "--output", type=Path, help="also write the table to this file, and its data beside it")
    args = parser.parse_args()
    epochs = [epoch for epoch in EPOCHS if args.epoch in (epoch.review_key, "both")]
    records = experiment_records()
    base = resolve(args.baseline, records)
    sides = [resolve(spec, records) for spec in args.experiments]
    rows = [row for side in sides for row in comparison.compare(base, side, epochs)]
    text = comparison.render(base, comparison.table(rows, base))
    print(text)
    if args.output:
        comparison.write_table(args.output, text)
        comparison.write_values(
            args.output, comparison.values(base, sides, rows), comparison.per_review(base, sides, rows)
        )


if __name__ == "__main__":
    run_stage(main)
