"""Result files -> plain, sorted rows and columns. Pure apart from reading the files once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import IfirError
from harness.results import find_results, load_result, run_path

FOLLOWIR = "instruction-reranking"
PMRR = "p-MRR"
MIX_ORDER = ("standard", "diversity", "dual-view")


@dataclass(frozen=True)
class Column:
    """One number per model: a measure of a task. For FollowIR, `part` says which qrels ("og" or
    "changed") it is scored against; p-MRR has no part."""

    task: str
    kind: str
    measure: str
    part: str = ""

    @property
    def measure_id(self) -> str:
        return f"{self.part}/{self.measure}" if self.part else self.measure

    @property
    def key(self) -> str:
        return f"{self.task}::{self.measure_id}"

    @property
    def label(self) -> str:
        return f"{self.measure} ({self.part})" if self.part else self.measure

    def value(self, metrics: dict) -> float | None:
        v = metrics.get(self.part, {}).get(self.measure) if self.part else metrics.get(self.measure)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def per_query(self, per_query: dict) -> dict[str, float]:
        v = per_query.get(self.part, {}).get(self.measure) if self.part else per_query.get(self.measure)
        if not isinstance(v, dict):
            return {}
        return {str(q): float(x) for q, x in v.items() if isinstance(x, (int, float))}


@dataclass
class Entry:
    """One loaded result file."""

    path: Path
    rel: str  # posix path under the results root, also its path under site/results/
    data: dict

    @property
    def model_key(self) -> tuple[str, str]:
        return self.data["model"]["name"], str(self.data["model"]["revision"])

    @property
    def task(self) -> str:
        return self.data["task"]["name"]

    @property
    def created_at(self) -> str:
        return str(self.data["provenance"].get("created_at") or "")

    @property
    def command(self) -> str:
        return str(self.data["provenance"].get("command") or "")

    @property
    def run_file(self) -> Path:
        name = self.data.get("run_file")
        return self.path.with_name(name) if isinstance(name, str) and "/" not in name else run_path(self.path)


@dataclass
class Model:
    name: str
    revision: str
    entries: dict[str, Entry] = field(default_factory=dict)  # task name -> entry

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.revision

    @property
    def label(self) -> str:
        return f"{self.name}@{self.revision}"

    @property
    def card(self) -> dict | None:
        """The training card of a trained model (the same for all its result files), else None."""
        for entry in self.entries.values():
            card = entry.data["model"].get("extra", {}).get("training_card")
            if isinstance(card, dict):
                return card
        return None


@dataclass
class Collection:
    models: list[Model]
    columns: list[Column]
    tasks: dict[str, dict]  # task name -> task record of the first file seen
    warnings: list[str]

    @property
    def entries(self) -> list[Entry]:
        return sorted((e for m in self.models for e in m.entries.values()), key=lambda e: e.rel)


def load_entries(root: Path) -> tuple[list[Entry], list[str]]:
    """Every readable result file under root; unreadable ones become warnings naming the file."""
    root = Path(root)
    if not root.is_dir():
        raise IfirError(f"{root}: no such results directory.")
    entries, warnings = [], []
    for path in find_results(root):
        rel = path.relative_to(root).as_posix()
        try:
            data = load_result(path)
            _check_shape(path, data)
        except IfirError as e:
            warnings.append(f"skipped {rel}: {str(e).replace(str(path), rel).removeprefix(rel + ': ')}")
            continue
        entries.append(Entry(path, rel, data))
    return entries, warnings


def _check_shape(path: Path, data: dict) -> None:
    for part in ("metrics", "per_query", "provenance"):
        if not isinstance(data[part], dict):
            raise IfirError(f"{path}: '{part}' is not an object.")


def columns_for(task: dict) -> list[Column]:
    """Main-table columns: p-MRR and each measure on og and changed qrels for FollowIR; the main measure otherwise."""
    name, kind = task["name"], task["kind"]
    if kind == FOLLOWIR:
        measures = list(task.get("measures") or [])
        return [Column(name, kind, PMRR)] + [Column(name, kind, m, part) for part in ("og", "changed") for m in measures]
    return [Column(name, kind, task.get("main_measure") or (task.get("measures") or ["nDCG@10"])[0])]


def significance_columns(task: dict) -> list[Column]:
    """Every measure significance is computed for (general tasks: all their measures)."""
    if task["kind"] == FOLLOWIR:
        return columns_for(task)
    return [Column(task["name"], task["kind"], m) for m in (task.get("measures") or [task.get("main_measure")])]


def task_order(task: dict) -> tuple:
    return (0 if task["kind"] == FOLLOWIR else 1, task["name"])


def collect(root: Path) -> Collection:
    entries, warnings = load_entries(root)
    models: dict[tuple[str, str], Model] = {}
    tasks: dict[str, dict] = {}
    for entry in entries:
        name, revision = entry.model_key
        model = models.setdefault((name, revision), Model(name, revision))
        previous = model.entries.get(entry.task)
        if previous is not None:
            keep, drop = sorted((previous, entry), key=lambda e: (e.created_at, e.rel), reverse=True)
            warnings.append(f"{model.label} has two results for task '{entry.task}': using {keep.rel} (newer), not {drop.rel}.")
            model.entries[entry.task] = keep
        else:
            model.entries[entry.task] = entry
        task = entry.data["task"]
        known = tasks.setdefault(task["name"], task)
        if known is not task and (known.get("kind"), known.get("revision")) != (task.get("kind"), task.get("revision")):
            warnings.append(f"task '{task['name']}' has different kinds or data revisions across files ({entry.rel}).")
    ordered = sorted(tasks.values(), key=task_order)
    columns = [c for t in ordered for c in columns_for(t)]
    for entry in entries:
        if not entry.run_file.is_file():
            warnings.append(f"{entry.rel}: its run file {entry.run_file.name} is missing.")
    return Collection(sorted(models.values(), key=lambda m: m.key), columns, {t["name"]: t for t in ordered}, warnings)


def mix_rank(mix: str) -> tuple:
    return (MIX_ORDER.index(mix) if mix in MIX_ORDER else len(MIX_ORDER), mix)
