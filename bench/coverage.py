"""How often the 95% intervals of imdb_rnn/analysis/stats.py contain the truth, over simulated studies of known answer.

    python -m bench.coverage [--studies 2000 --reviews 25000 --seeds 5]     # Model's fields are options too

docs/statistics.md describes the model and quotes the output.
"""

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from imdb_rnn.analysis import stats

ESTIMANDS = ("accuracy of A", "B − A, paired by seed", "B − A, independent seeds")


@dataclass(frozen=True)
class Model:
    """The simulated truth: review difficulty, seed luck and the second configuration's shift (logits)."""

    review_mean: float = 5.56
    review_sd: float = 4.8
    seed_sd: float = 0.08
    shift: float = 0.15
    review_shift_sd: float = 1.0
    seed_correlation: float = 0.5
    shared_draws: float = 0.5

    def accuracy(self, shift: float = 0.0, extra_sd: float = 0.0) -> float:
        """E sigmoid(Z), Z ~ N(review_mean + shift, review_sd² + extra_sd² + seed_sd²), by Gauss–Hermite."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(120)
        sd = math.sqrt(self.review_sd**2 + extra_sd**2 + self.seed_sd**2)
        values = 1 / (1 + np.exp(-(self.review_mean + shift + sd * nodes)))
        return float(weights @ values / math.sqrt(2 * math.pi))

    @property
    def truths(self) -> tuple[float, float, float]:
        a = self.accuracy()
        delta = self.accuracy(self.shift, self.review_shift_sd) - a
        return a, delta, delta


def draw_study(model: Model, rng: np.random.Generator, reviews: int, seeds: int) -> tuple:
    """One study: per-review results of A, of B on A's seeds, and of B on seeds of its own (dicts seed -> bool)."""
    theta = rng.normal(model.review_mean, model.review_sd, reviews).astype(np.float32)
    theta_b = theta + np.float32(model.shift) + rng.normal(0, model.review_shift_sd, reviews).astype(np.float32)
    luck_a = rng.normal(0, model.seed_sd, seeds)
    rho = model.seed_correlation
    luck_b = rho * luck_a + math.sqrt(1 - rho**2) * rng.normal(0, model.seed_sd, seeds)
    luck_own = rng.normal(0, model.seed_sd, seeds)
    a, b, own = {}, {}, {}
    for seed in range(seeds):
        draws = rng.random(reviews, dtype=np.float32)
        shared = rng.random(reviews, dtype=np.float32) < model.shared_draws
        draws_b = np.where(shared, draws, rng.random(reviews, dtype=np.float32))
        a[seed] = draws < _sigmoid(theta + luck_a[seed])
        b[seed] = draws_b < _sigmoid(theta_b + luck_b[seed])
        own[seeds + seed] = rng.random(reviews, dtype=np.float32) < _sigmoid(theta_b + luck_own[seed])
    return a, b, own


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def satterthwaite_half_width(result: stats.Estimate) -> float:
    """The half-width the usual alternative gives: Student's t, Satterthwaite's df (the test part's as infinite)."""
    spread = sum(variance**2 / df for variance, df in result.seed_parts)
    return stats.t_quantile(result.var**2 / spread if spread else math.inf) * result.se


def simulate(model: Model, studies: int, reviews: int, seeds: int, rng_seed: int = 0) -> tuple[list[dict], dict]:
    """Per estimand: the truth, coverage of the 95% intervals, mean half-width and the estimates' spread;
    and how the simulated runs look (the seed spread of one run's accuracy, how often two seeds disagree)."""
    rng = np.random.default_rng(rng_seed)
    truths = model.truths
    results: dict[str, list[stats.Estimate]] = {name: [] for name in ESTIMANDS}
    disagreement = []
    for _ in range(studies):
        a, b, own = draw_study(model, rng, reviews, seeds)
        disagreement.append(float(np.mean(a[0] != a[1])))
        results[ESTIMANDS[0]].append(stats.accuracy(a))
        results[ESTIMANDS[1]].append(stats.difference(a, b).estimate)
        results[ESTIMANDS[2]].append(stats.difference(a, own).estimate)
    rows = []
    for name, truth in zip(ESTIMANDS, truths, strict=True):
        estimates = results[name]
        bounds = [e.interval() for e in estimates]
        covered = sum(low <= truth <= high for low, high in bounds)
        low, high = scipy_stats.binomtest(covered, studies).proportion_ci(confidence_level=0.95)
        satterthwaite = sum(abs(e.mean - truth) <= satterthwaite_half_width(e) for e in estimates)
        row = {"estimand": name, "truth": truth, "coverage": covered / studies, "coverage_low": low}
        row |= {"coverage_high": high, "satterthwaite_coverage": satterthwaite / studies}
        row["mean_half_width"] = float(np.mean([(high - low) / 2 for low, high in bounds]))
        row["sd_of_estimates"] = float(np.std([e.mean for e in estimates], ddof=1))
        row["mean_se"] = float(np.mean([e.se for e in estimates]))
        row["test_share"] = float(np.mean([e.test_var / e.var for e in estimates]))
        rows.append(row)
    runs = {
        "seed_sd_of_one_run": float(np.mean([e.std for e in results[ESTIMANDS[0]]])),
        "disagreement_of_two_seeds": float(np.mean(disagreement)),
    }
    return rows, runs


def render(rows: list[dict], runs: dict, model: Model, studies: int, reviews: int, seeds: int, seconds: float) -> str:
    header = (
        f"{studies} simulated studies, {seeds} seeds x {reviews} reviews each ({seconds:.0f} s); model: "
        + ", ".join(f"{key}={value}" for key, value in model.__dict__.items())
        + f". One run's accuracy varies over seeds by {runs['seed_sd_of_one_run'] * 100:.2f} points (sd);"
        f" two seeds disagree on {runs['disagreement_of_two_seeds']:.1%} of the reviews."
        + "\n\n| estimand | truth | coverage of the 95% intervals [binomial 95%] | mean half-width (points) "
        "| sd of the estimates / mean SE | test set's share of the variance | coverage with Satterthwaite's t |"
        "\n| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    lines = [
        f"| {row['estimand']} | {row['truth']:.4f} | {row['coverage']:.1%} [{row['coverage_low']:.1%}, "
        f"{row['coverage_high']:.1%}] | {row['mean_half_width'] * 100:.2f} | "
        f"{row['sd_of_estimates'] / row['mean_se']:.2f} | {row['test_share']:.0%} | {row['satterthwaite_coverage']:.1%} |"
        for row in rows
    ]
    return header + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__.splitlines()[0])
    fields = Model().__dict__  # the model's fields are floats, the study's sizes and the generator's seed ints
    for key, value in ({"studies": 2000, "reviews": 25000, "seeds": 5, "rng_seed": 0} | fields).items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value, help=f"default: {value}")
    args = parser.parse_args()
    if args.seeds < 2 or args.reviews < 2 or args.studies < 1:
        parser.error("--seeds and --reviews must be at least 2, --studies at least 1")
    model = Model(**{key: getattr(args, key) for key in fields})
    start = time.perf_counter()
    rows, runs = simulate(model, args.studies, args.reviews, args.seeds, args.rng_seed)
    print(render(rows, runs, model, args.studies, args.reviews, args.seeds, time.perf_counter() - start))


if __name__ == "__main__":
    main()
