"""Stage `baseline`: NBSVM, a linear classifier on word unigrams and bigrams of the whole reviews.

    python -m stages.baseline

NBSVM of Wang & Manning ("Baselines and Bigrams: Simple, Good Sentiment and Topic Classification", ACL 2012,
section 2.3): each review is the binarized indicator x = 1[f > 0] of its unigrams and bigrams; r = log((p/|p|_1) /
(q/|q|_1)), p = alpha + the sum of the positive training reviews' x and q the same over the negative ones, is the
Naive-Bayes log-count ratio; a linear classifier is fitted on r ∘ x. They report 91.22% test accuracy on IMDB
(NBSVM-bi, 25,000 training reviews) with an L2-loss SVM whose weights they interpolate towards their mean magnitude;
the classifier here is the variant most implementations use instead, L2-regularized logistic regression (liblinear),
as in Mesnil, Mikolov, Ranzato & Bengio, "Ensemble of Generative and Discriminative Techniques for Sentiment
Analysis of Movie Reviews" (arXiv:1412.5335, 2014) and their NBSVM code. It needs no interpolation, for which Wang &
Manning do not say what becomes of the SVM's bias (kept or scaled, it moved validation accuracy by a point here).

The protocol is the study's: the reviews are its splits' (data/splits.json, which `tokenize` writes: the archive
members of each row of data/processed/{split}.safetensors, in row order), read whole from the archive and split
into tokens by the study's tokenizer. For each C of `baseline.C` a model is fitted on the training split (the
study's, without its validation split) and scored on the validation split; the C of the best validation accuracy
(the smallest among equals) is kept, and only then is the test split read and scored, once. The results pair
review by review with the study's runs. Writes metrics/baseline.json (test accuracy and its 95% Wilson interval,
from the test set alone: the baseline has no seed; the validation accuracy of every C, the chosen C, the split
sizes, the fit's minutes, where it ran) and metrics/baseline_correct.npz: which test reviews it got right, one
bit per review in the test split's order as metrics/correct.npz packs the study's runs (`correct`, np.packbits,
and `n_reviews`: np.unpackbits(correct, count=n_reviews)). Both are byte-identical from run to run, but for the
fit's minutes.
"""

import json
import tarfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated

import numpy as np
import scipy.sparse
import sklearn
from pydantic import Field, field_validator
from scipy.stats import binomtest
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from imdb_rnn.core.common import StageError, atomic_output, missing_input, read_json, run_stage
from imdb_rnn.core.machine import cpu_model
from imdb_rnn.core.params import StageParams, load_params, unique
from imdb_rnn.core.paths import BASELINE_CORRECT_FILE, BASELINE_METRICS_FILE, RAW_ARCHIVE, SPLITS_FILE
from imdb_rnn.core.text import LABELS, decode, tokenize

PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(StageParams):
    C: list[PositiveFinite] = Field(min_length=1)  # the inverse regularization strengths to choose from
    alpha: PositiveFinite  # the count smoothing of the log-count ratio
    threads: int = Field(gt=0)  # BLAS and OpenMP threads (liblinear itself runs on one)

    _unique_c = field_validator("C")(unique)


class Params(StageParams):
    baseline: Settings


NGRAMS = (1, 2)
MAX_ITER = 10_000  # liblinear's iterations at most; every fit records whether it converged before
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every member's timestamp in the .npz, so that equal results give equal bytes


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: np.ndarray  # 1 = positive


@dataclass(frozen=True)
class Features:
    """The training split's vocabulary of unigrams and bigrams and its log-count ratio r: texts -> r ∘ 1[f > 0]."""

    vectorizer: CountVectorizer
    ratio: np.ndarray

    def __call__(self, texts: list[str]) -> scipy.sparse.csr_matrix:
        return scipy.sparse.csr_matrix(self.vectorizer.transform(texts).multiply(self.ratio))


def read_split_names() -> dict[str, list[str]]:
    """data/splits.json: per split, its reviews' archive member names in the study's row order."""
    splits = read_json(SPLITS_FILE, "tokenize")
    if set(splits) != {"train", "val", "test"} or not all(splits.values()):
        raise StageError(f"{SPLITS_FILE} should list the reviews of train, val and test: run `dvc repro -f tokenize`")
    return splits


def label_of(name: str) -> int:
    """A review's label, from its label folder (aclImdb/<split>/<pos|neg>/<id>_<rating>.txt)."""
    folder = PurePosixPath(name).parent.name
    if folder not in LABELS:
        raise StageError(f"{SPLITS_FILE} names {name!r}, not a labelled review: run `dvc repro -f tokenize`")
    return LABELS[folder]


def read_splits(archive_path: Path, names: dict[str, list[str]]) -> dict[str, Split]:
    """The whole reviews that `names` lists per split, from the archive in one pass, decoded as `tokenize` does."""
    wanted = {name for split_names in names.values() for name in split_names}
    texts: dict[str, str] = {}
    if not archive_path.exists():
        raise missing_input(archive_path, "download")
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in archive:
                name = PurePosixPath(member.name).as_posix()  # `./aclImdb/...` is `aclImdb/...`
                if name in wanted and member.isfile():
                    texts[name] = decode(archive.extractfile(member).read())
    except (tarfile.TarError, EOFError, OSError) as error:
        raise StageError(
            f"cannot read {archive_path} as a gzip tar archive ({error}); run `dvc repro -f download` to fetch it again"
        ) from None
    if missing := sorted(wanted - texts.keys()):
        raise StageError(
            f"{archive_path} lacks {len(missing):,} reviews that {SPLITS_FILE} lists, such as {missing[0]!r}: "
            "run `dvc repro tokenize` to list the archive's own"
        )
    return {
        split: Split([texts[name] for name in split_names], np.array([label_of(name) for name in split_names]))
        for split, split_names in names.items()
    }


def log_count_ratio(indicators: scipy.sparse.csr_matrix, labels: np.ndarray, alpha: float) -> np.ndarray:
    """r = log((p/|p|_1) / (q/|q|_1)), p and q being alpha plus the feature counts of the positive and negative rows."""
    p = alpha + np.asarray(indicators[labels == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(indicators[labels == 0].sum(axis=0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


def fit_features(train: Split, alpha: float) -> tuple[Features, scipy.sparse.csr_matrix]:
    """The features learnt from the training split, and that split's."""
    vectorizer = CountVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=NGRAMS, binary=True, dtype=np.float64
    )
    indicators = vectorizer.fit_transform(train.texts)
    ratio = log_count_ratio(indicators, train.labels, alpha)
    return Features(vectorizer, ratio), scipy.sparse.csr_matrix(indicators.multiply(ratio))


def fit_classifier(features: scipy.sparse.csr_matrix, labels: np.ndarray, c: float) -> LogisticRegression:
    classifier = LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=MAX_ITER, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as `converged` instead
        return classifier.fit(features, labels)


def select(train: Split, val: Split, settings: Settings) -> tuple[Features, LogisticRegression, float, list[dict]]:
    """Fit the features and one classifier per C on the training split; keep the C of the best validation accuracy
    (the smallest, i.e. the most regularized, among equals). Also returns per C its validation accuracy and whether
    its fit converged. Sees no test review."""
    features, train_features = fit_features(train, settings.alpha)
    val_features = features(val.texts)
    classifiers, selection = {}, []
    for c in sorted(settings.C):
        classifiers[c] = fit_classifier(train_features, train.labels, c)
        val_acc = float((classifiers[c].predict(val_features) == val.labels).mean())
        converged = bool(classifiers[c].n_iter_.max() < MAX_ITER)
        selection.append({"C": c, "val_acc": round(val_acc, 6), "converged": converged})
    chosen = max(selection, key=lambda row: (row["val_acc"], -row["C"]))["C"]
    return features, classifiers[chosen], chosen, selection


def wilson_interval(correct: np.ndarray) -> tuple[float, float]:
    """The 95% Wilson interval of the accuracy, from the binomial sampling of the test reviews alone."""
    interval = binomtest(int(correct.sum()), len(correct)).proportion_ci(0.95, method="wilson")
    return interval.low, interval.high


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed's format, with a fixed timestamp on every member (savez stamps the time of writing)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            member = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w") as file:
                np.lib.format.write_array(file, np.asanyarray(array), allow_pickle=False)


def main() -> None:
    settings = load_params(Params).baseline
    names = read_split_names()
    with threadpool_limits(limits=settings.threads):
        data = read_splits(RAW_ARCHIVE, {split: names[split] for split in ("train", "val")})
        start, cpu_start = time.perf_counter(), time.process_time()
        features, classifier, chosen, selection = select(data["train"], data["val"], settings)
        fit_minutes = (time.perf_counter() - start) / 60
        fit_cpu_minutes = (time.process_time() - cpu_start) / 60
        test = read_splits(RAW_ARCHIVE, {"test": names["test"]})["test"]  # read only once C is fixed
        correct = classifier.predict(features(test.texts)) == test.labels
    low, high = wilson_interval(correct)
    metrics = {
        "test_acc": round(float(correct.mean()), 6),
        "test_acc_low": round(low, 6),
        "test_acc_high": round(high, 6),
        "interval": "Wilson 95%",  # of the test reviews' binomial sampling alone: the fit has no seed
        "chosen_C": chosen,
        "selection": selection,
        "n_train": len(data["train"].labels),
        "n_val": len(data["val"].labels),
        "n_test": len(test.labels),
        "features": len(features.ratio),
        "fit_minutes": round(fit_minutes, 2),
        "fit_cpu_minutes": round(fit_cpu_minutes, 2),
        "sklearn": sklearn.__version__,
        "cpu": cpu_model(),
        "threads": settings.threads,
    }
    with atomic_output(BASELINE_METRICS_FILE) as metrics_path, atomic_output(BASELINE_CORRECT_FILE) as correct_path:
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
        write_npz(correct_path, {"n_reviews": np.array(len(correct)), "correct": np.packbits(correct)})
    chosen_row = next(row for row in selection if row["C"] == chosen)
    print(
        f"baseline: NBSVM C = {chosen} (val acc {chosen_row['val_acc']:.4f}), "
        f"test acc {metrics['test_acc']:.4f} [{low:.4f}, {high:.4f}], fit {fit_minutes:.1f} min"
    )


if __name__ == "__main__":
    run_stage(main)
