"""The search space: a YAML file of the train params (and `arch`) a search draws, checked before any trial.

    fixed:            # train params for every trial, over params.yaml's (epochs, portable_numerics, ...)
      epochs: 10
    space:            # what each trial draws: a list is a choice; low/high a range (log: true for a log scale)
      arch: [lstm, gru]
      hidden: {low: 64, high: 256, log: true}   # integers when both bounds are
      seq_len: [200, 400]                        # tokenize's seq_len, vocab_size and truncate narrow the data

Every value is checked by the stage that reads it (train's Params, the architectures, tokenize's Params), so
a wrong key, value or range is named before the first trial. `seq_len`, `vocab_size` and `truncate` are
tokenize's: a trial narrows the tokenized splits to them exactly as tokenize would encode them (data.narrow),
which needs splits tokenized with at least that vocabulary and every token (seq_len null) or the same cut.
"""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from ruamel.yaml import YAML, YAMLError

from imdb_rnn import architectures
from imdb_rnn.core.common import StageError
from imdb_rnn.core.params import check_choice, load_params
from imdb_rnn.core.paths import PARAMS_FILE
from stages import tokenize, train
from tools.grid.params import listed_problems

TOKENIZE_KEYS = ("seq_len", "vocab_size", "truncate")  # a trial narrows the tokenized splits to these
PER_SEARCH = ("threads", "portable_numerics", "device")  # one process trains many trials: set in `fixed` only
Distribution = optuna.distributions.BaseDistribution


@dataclass(frozen=True)
class Space:
    """What every trial shares (`fixed`: train params, tokenize's as the data holds them) and what it draws."""

    fixed: dict[str, Any]
    distributions: dict[str, Distribution]

    def config(self, drawn: dict[str, Any]) -> dict[str, Any]:
        """A trial's whole configuration: arch, train params and tokenize's encoding."""
        return {**self.fixed, **drawn}


def _distribution(key: str, spec: Any, where: str) -> Distribution:
    if isinstance(spec, list) and spec:
        return optuna.distributions.CategoricalDistribution(spec)
    if isinstance(spec, dict) and {"low", "high"} <= spec.keys() and spec.keys() <= {"low", "high", "log"}:
        low, high, log = spec["low"], spec["high"], spec.get("log", False)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not isinstance(log, bool) or not low < high or (log and low <= 0):
            raise StageError(
                f"{where}: '{key}' = {spec}: a range needs numbers low < high (and low > 0 with log: true)"
            )
        if isinstance(low, int) and isinstance(high, int):
            return optuna.distributions.IntDistribution(low, high, log=log)
        return optuna.distributions.FloatDistribution(float(low), float(high), log=log)
    raise StageError(f"{where}: '{key}' = {spec!r}: give a list of values, or {{low: .., high: .., log: true|false}}")


def _values(distribution: Distribution) -> list[Any]:
    """The values to check a distribution by: its choices, or its bounds."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return list(distribution.choices)
    return [distribution.low, distribution.high]


def problems(config: dict[str, Any], scratch: Path, params_file: Path) -> list[str]:
    """What train, tokenize and the architectures would refuse in `config`, in their words (one line per value).

    tokenize's other params (the validation split's) are params.yaml's: a trial does not change them."""
    values = YAML(typ="safe", pure=True).load(params_file.read_text()) | config
    scratch.write_text(yaml.safe_dump({key: value for key, value in values.items() if key != "arch"}))
    found = []
    checks = [lambda: load_params(train.Params, scratch), lambda: load_params(tokenize.Params, scratch)]
    if "arch" in config:  # drawn: checked with each of its choices
        checks.append(lambda: check_choice("arch", config["arch"], architectures.NAMES, scratch))
    for check in checks:
        try:
            check()
        except StageError as error:
            found += listed_problems(error)
    return found


def load_space(path: Path, data_stats: dict, params_file: Path = PARAMS_FILE) -> Space:
    """The space in `path` over params.yaml's values, each value checked; the data's encoding must allow it."""
    where = str(path)
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text())
    except FileNotFoundError:
        raise StageError(f"search space {path} not found: pass --space, or copy search/space.yaml") from None
    except YAMLError as error:
        raise StageError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict) or not raw.keys() <= {"fixed", "space"} or not isinstance(raw.get("space"), dict):
        raise StageError(f"{path}: expected a mapping with `space:` (what trials draw) and optionally `fixed:`")
    fixed_raw, drawn_raw = raw.get("fixed") or {}, raw["space"]
    known = {"arch", *train.Params.model_fields, *TOKENIZE_KEYS}
    for key in [*fixed_raw, *drawn_raw]:
        if key not in known:
            raise StageError(f"{where}: unknown key '{key}': a search draws `arch`, train's params and {TOKENIZE_KEYS}")
    if "arch" not in {*fixed_raw, *drawn_raw}:
        raise StageError(f"{where}: name the architecture: `arch` under fixed (one) or space (a choice)")
    for key in PER_SEARCH:
        if key in drawn_raw:
            raise StageError(f"{where}: '{key}' is one per search (each worker process keeps it): put it under fixed")
    base = load_params(train.Params, params_file).model_dump()
    base |= {key: data_stats[key] for key in ("seq_len", "truncate")} | {"vocab_size": data_stats["vocab_size"] - 2}
    fixed = base | dict(fixed_raw)
    distributions = {key: _distribution(key, spec, where) for key, spec in drawn_raw.items()}
    refused = []
    with tempfile.TemporaryDirectory(prefix="search-space-") as directory:
        scratch = Path(directory) / PARAMS_FILE.name
        refused += [f"fixed: {problem}" for problem in problems(fixed, scratch, params_file)]
        for key, distribution in distributions.items():
            for value in _values(distribution):
                refused += [f"space: {problem}" for problem in problems(fixed | {key: value}, scratch, params_file)]
                refused += narrowing_problems(fixed | {key: value}, data_stats)
    refused += narrowing_problems(fixed, data_stats)
    if refused:
        listed = "\n  ".join(dict.fromkeys(refused))
        raise StageError(f"{where} holds values the stages would refuse, so no trial was started:\n  {listed}")
    return Space(fixed, distributions)


def narrowing_problems(config: dict[str, Any], data_stats: dict) -> list[str]:
    """Why the tokenized data cannot be narrowed to `config`'s encoding (data.narrow), if it cannot."""
    vocab, seq_len, truncate = data_stats["vocab_size"] - 2, data_stats["seq_len"], data_stats["truncate"]
    found = []
    if config["vocab_size"] > vocab:
        found.append(
            f"'vocab_size' = {config['vocab_size']}: the tokenized data has {vocab}; tokenize with a larger vocab_size"
        )
    if seq_len is not None and (
        config["seq_len"] is None or config["seq_len"] > seq_len or config["truncate"] != truncate
    ):
        found.append(
            f"'seq_len' = {config['seq_len']}, 'truncate' = {config['truncate']!r}: the tokenized data keeps {seq_len} "
            f"tokens ({truncate}); tokenize with seq_len null (every token) to search over them"
        )
    return found


def read_data_stats(data: Path) -> dict:
    """tokenize's stats.json of the splits in `data`."""
    try:
        return json.loads((data / "stats.json").read_text())
    except FileNotFoundError:
        raise StageError(f"{data}/stats.json not found: run `dvc repro tokenize`, or pass --data DIR") from None
