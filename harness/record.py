"""The two records this project writes and reads back: a result file (`ResultRecord`) and a trained
model's `training_card.json` (`TrainingCard`). Each has one `from_dict` that checks a file and reads
older schema versions, and a `to_dict` that gives back the dict as it was read (so copies of a file,
such as the leaderboard's, stay byte for byte what was written).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import IfirError

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 2 adds identity, identity_hash, variant, phase seconds and throughput
REQUIRED = ("schema_version", "task", "model", "metrics", "per_query", "provenance")
CARD_VERSIONS = (1, 2)  # 2 adds the leak-free split (`data.held_out`) and the constraint types trained on


def metric_problem(name: str, value) -> str | None:
    """Why `value` cannot be the value of measure `name` (None when it can): it is a finite number
    (not a string, a boolean or NaN), in [-1, 1] for p-MRR, at least 0 for counts (ir_measures'
    NumRet, NumRel, ...), in [0, 1] for every other measure."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{json.dumps(value)}, not a finite number"
    low, high = (-1, 1) if name == "p-MRR" else (0, math.inf) if name.startswith("Num") else (0, 1)
    if not low <= value <= high:
        return f"{value}, outside [{low}, {high}]" if high < math.inf else f"{value}, below {low}"
    return None


def _metric_values(metrics: dict):
    """(part, measure name, value) of every metric: part is "og/" or "changed/" for FollowIR's
    figures against each qrels, else ""."""
    for name, value in metrics.items():
        if name in ("og", "changed") and isinstance(value, dict):
            yield from ((f"{name}/", n, v) for n, v in value.items())
        else:
            yield "", name, value


def _is_name(value) -> bool:
    return isinstance(value, str) and bool(value)


def _ordered(data: dict, order: tuple[str, ...]) -> dict:
    """`data` with its keys in `order` (the order they were read in)."""
    return {k: data[k] for k in order if k in data} | {k: v for k, v in data.items() if k not in order}


@dataclass(frozen=True)
class TrainingCard:
    """What a model trained here was trained from and how: the base model, the data (source, split,
    budget, mix, and from version 2 the pairs held out), the config and the seed; `rest` holds the
    other fields (llm, timings, loss curve, command) as written."""

    schema_version: int
    base_model: dict
    data: dict
    config: dict
    seed: int
    rest: dict = field(default_factory=dict)
    order: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, card, *, path: Path | str, where: str = "") -> TrainingCard:
        """The card, checked; an IfirError names `path` and the field (under `where`, the card's
        place in a result file) otherwise."""
        def fail(name: str, what: str):
            raise IfirError(f"{path}: '{where}{name}' {what}.")

        if not isinstance(card, dict):
            raise IfirError(f"{path}: '{where.rstrip('.') or 'training card'}' is not an object.")
        if card.get("schema_version") not in CARD_VERSIONS:
            fail("schema_version", f"is {json.dumps(card.get('schema_version'))}, this ifir-bench reads {', '.join(map(str, CARD_VERSIONS))}")
        for name in ("base_model", "data", "config"):
            if not isinstance(card.get(name), dict):
                fail(name, "is not an object")
        if not _is_name(card["base_model"].get("name")):
            fail("base_model.name", f"is {json.dumps(card['base_model'].get('name'))}, not a name (a non-empty string)")
        if not isinstance(card["base_model"].get("revision"), str):
            fail("base_model.revision", f"is {json.dumps(card['base_model'].get('revision'))}, not a revision string")
        data = card["data"]
        for name in ("source", "mix"):
            if not isinstance(data.get(name), str):
                fail(f"data.{name}", f"is {json.dumps(data.get(name))}, not a string")
        if isinstance(data.get("budget"), bool) or not isinstance(data.get("budget"), int):
            fail("data.budget", f"is {json.dumps(data.get('budget'))}, not a whole number")
        if isinstance(card.get("seed"), bool) or not isinstance(card.get("seed"), int):
            fail("seed", f"is {json.dumps(card.get('seed'))}, not a whole number")
        if card["schema_version"] >= 2 and not isinstance(data.get("held_out"), dict):
            fail("data.held_out", "is not an object (a version 2 card records the pairs held out)")
        known = ("schema_version", "base_model", "data", "config", "seed")
        return cls(card["schema_version"], card["base_model"], data, card["config"], card["seed"],
                   {k: v for k, v in card.items() if k not in known}, tuple(card))

    @classmethod
    def read(cls, path: Path) -> TrainingCard:
        from harness.fileio import read_json

        return cls.from_dict(read_json(path), path=path)

    def to_dict(self) -> dict:
        known = {"schema_version": self.schema_version, "base_model": self.base_model, "data": self.data,
                 "config": self.config, "seed": self.seed}
        return _ordered(known | self.rest, self.order)

    @property
    def mix(self) -> str:
        return self.data["mix"]

    @property
    def budget(self) -> int:
        return self.data["budget"]

    @property
    def source(self) -> str:
        return self.data["source"]

    @property
    def held_out(self) -> dict | None:
        """The leak-free split's summary; None for version 1 cards, written before it was recorded."""
        return self.data.get("held_out")

    @property
    def base(self) -> tuple[str, str]:
        return self.base_model["name"], self.base_model["revision"]


@dataclass(frozen=True)
class ResultRecord:
    """One result file: a (model, task) as run and scored. `task`, `model`, `provenance` and the
    measures stay plain dicts (their keys grow with the tasks and models); what readers rely on is
    checked by `from_dict`. `identity`, `identity_hash` and `variant` are None in version 1 files,
    written before they were recorded; `rest` holds the optional fields (main_score, breakdown,
    warnings, paraphrases, run_file) as written."""

    schema_version: int
    task: dict
    model: dict
    metrics: dict
    per_query: dict
    provenance: dict
    identity: dict | None = None
    identity_hash: str | None = None
    variant: dict | None = None
    training_card: TrainingCard | None = None
    rest: dict = field(default_factory=dict)
    order: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data, *, path: Path | str) -> ResultRecord:
        """The record of a result file's JSON, checked: anything a reader (tables, the leaderboard,
        the experiment summary) would misread is one IfirError naming `path` and the field."""
        if not isinstance(data, dict):
            raise IfirError(f"{path}: a result file holds a JSON object.")
        if data.get("schema_version") not in READABLE_VERSIONS:
            versions = ", ".join(map(str, READABLE_VERSIONS))
            raise IfirError(f"{path}: schema_version {data.get('schema_version')!r}, this ifir-bench reads {versions}.")
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise IfirError(f"{path}: missing field(s) {', '.join(missing)}.")
        for part, keys in (("task", ("name", "kind")), ("model", ("name", "revision"))):
            if not isinstance(data[part], dict) or any(k not in data[part] for k in keys):
                raise IfirError(f"{path}: '{part}' needs {', '.join(keys)}.")
        if not isinstance(data["metrics"], dict):
            raise IfirError(f"{path}: 'metrics' is not an object.")
        for part, name, value in _metric_values(data["metrics"]):
            problem = metric_problem(name, value)
            if problem:
                raise IfirError(f"{path}: metric '{part}{name}' is {problem}.")
        for part in ("per_query", "provenance"):
            if not isinstance(data[part], dict):
                raise IfirError(f"{path}: '{part}' is not an object.")
        for part, key in (("model", "name"), ("task", "name"), ("task", "kind")):
            value = data[part][key]
            if not _is_name(value):
                raise IfirError(f"{path}: '{part}.{key}' is {json.dumps(value)}, not a name (a non-empty string).")
        revision = data["model"]["revision"]
        if not isinstance(revision, (str, int)) or isinstance(revision, bool):
            raise IfirError(f"{path}: 'model.revision' is {json.dumps(revision)}, not a revision string.")
        main_measure = data["task"].get("main_measure")
        if main_measure is not None and not isinstance(main_measure, str):
            raise IfirError(f"{path}: 'task.main_measure' is {json.dumps(main_measure)}, not a measure name.")
        measures = data["task"].get("measures", [])
        if not (isinstance(measures, list) and all(isinstance(m, str) for m in measures)):
            raise IfirError(f"{path}: 'task.measures' is not a list of measure names.")
        extra = data["model"].get("extra")
        if extra is not None and not isinstance(extra, dict):
            raise IfirError(f"{path}: 'model.extra' is not an object.")
        card = (extra or {}).get("training_card")
        if card is not None:
            card = TrainingCard.from_dict(card, path=path, where="model.extra.training_card.")
        main = data.get("main_score")
        if main is not None and (isinstance(main, bool) or not isinstance(main, (int, float)) or not math.isfinite(main)):
            raise IfirError(f"{path}: 'main_score' is {json.dumps(main)}, not a finite number.")
        order = tuple(data)
        data = _upgrade(data, path)
        for key, kind in (("identity", dict), ("identity_hash", str), ("variant", dict)):
            if data[key] is not None and not isinstance(data[key], kind):
                raise IfirError(f"{path}: '{key}' is {json.dumps(data[key])}, not {'an object' if kind is dict else 'a string'}.")
        known = ("schema_version", "task", "model", "metrics", "per_query", "provenance", "identity", "identity_hash", "variant")
        return cls(*(data[k] for k in known), training_card=card, rest={k: v for k, v in data.items() if k not in known},
                   order=order)

    def to_dict(self) -> dict:
        """The dict that was read (and written): fields a version 1 file lacks stay absent."""
        known = {"schema_version": self.schema_version, "task": self.task, "model": self.model, "metrics": self.metrics,
                 "per_query": self.per_query, "provenance": self.provenance}
        known |= {k: v for k, v in (("identity", self.identity), ("identity_hash", self.identity_hash), ("variant", self.variant))
                  if v is not None}
        return _ordered(known | self.rest, self.order)


def _upgrade(data: dict, path) -> dict:
    """`data` read as the current schema, in this one place: a version 1 file (written before a
    result recorded its identity and settings) has identity, identity_hash and variant None; a
    version 2 file must have them."""
    if data["schema_version"] == 1:
        return {"identity": None, "identity_hash": None, "variant": None} | data
    missing = [k for k in ("identity", "identity_hash", "variant") if k not in data]
    if missing:
        raise IfirError(f"{path}: missing field(s) {', '.join(missing)} (schema_version {data['schema_version']} records them).")
    return data
