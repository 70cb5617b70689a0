"""Result files -> plain, sorted rows and columns. Pure apart from reading the files once.

A row of the leaderboard is one model as evaluated: (name, revision, setup), where the setup is
the model side of the result's `identity` (template, prompts, backend, ...; the task side is left
out). Trained models whose training cards share (base model, data source, budget, mix) and differ
only by seed are one row, averaged over the seeds. Rows of one model or recipe that differ in
their setup are labelled by the keys that differ.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from harness.errors import IfirError
from harness.families import FAMILIES
from harness.metrics import pmrr
from harness.models.protocols import identity_hash
from harness.record import TrainingCard
from harness.results import load_result, run_path
from leaderboard.public import scrub_record

FOLLOWIR = "instruction-reranking"
PMRR = pmrr.NAME
MIX_ORDER = ("standard", "diversity", "dual-view")
# Parts of a result's identity that describe the task, not the model: left out of a row's setup
# (a key part equal to one of TASK_SIDE, or containing one of TASK_SIDE_WORDS).
TASK_SIDE = frozenset({"data", "measures", "queries", "corpus", "qrels", "dataset"})
TASK_SIDE_WORDS = ("task", "fingerprint", "split", "paraphrase")
SITE_MARKER = "leaderboard.json"  # beside index.html in every built site
RUN_SETTINGS = ("top_k", "rerank_depth")  # from a result's `variant`: run options that change the numbers
# Setup keys that name one trained instance rather than its recipe: left out when seeds are grouped.
INSTANCE_KEYS = frozenset({"name", "revision", "spec", "path", "seed"})


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Column:
    """One number per row for one task. `source` says where it is read: "metrics" (for FollowIR
    `part` says which qrels, "og" or "changed", it is scored against; p-MRR has no part) or
    "paraphrases" (`part` is "mean", "sd" or "min" of the main score over instruction paraphrases)."""

    task: str
    kind: str
    measure: str
    part: str = ""
    source: str = "metrics"

    @property
    def measure_id(self) -> str:
        if self.source == "paraphrases":
            return f"paraphrases/{self.part}"
        return f"{self.part}/{self.measure}" if self.part else self.measure

    @property
    def key(self) -> str:
        return f"{self.task}::{self.measure_id}"

    @property
    def label(self) -> str:
        if self.source == "paraphrases":
            return f"paraphr. {self.part}"
        return f"{self.measure} ({self.part})" if self.part else self.measure

    def value(self, data: dict) -> float | None:
        if self.source == "paraphrases":
            record = data.get("paraphrases")
            v = record.get(self.part) if isinstance(record, dict) else None
        else:
            metrics = data.get("metrics", {})
            part = metrics.get(self.part) if self.part else metrics
            v = part.get(self.measure) if isinstance(part, dict) else None
        return float(v) if is_number(v) else None

    def per_query(self, per_query: dict) -> dict[str, float]:
        part = per_query.get(self.part) if self.part else per_query
        v = part.get(self.measure) if isinstance(part, dict) else None
        if not isinstance(v, dict):
            return {}
        return {str(q): float(x) for q, x in v.items() if is_number(x)}


@dataclass
class Entry:
    """One loaded result file, as it may be published (secrets and absolute paths scrubbed)."""

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

    @cached_property
    def card(self) -> TrainingCard | None:
        card = (self.data["model"].get("extra") or {}).get("training_card")
        return None if card is None else TrainingCard.from_dict(card, path=self.rel, where="model.extra.training_card.")

    @property
    def setup(self) -> dict:
        """The model side of the result's identity, flattened to dotted keys ({} for older files).
        `top_k` is taken from the result's `variant` (set when it is not the default), not from the
        identity, which records it for full retrieval only: one run's reranking and retrieval
        tasks stay in one row."""
        identity = self.data.get("identity")
        if identity is None:
            return {}
        setup = {k: v for k, v in flatten(identity).items() if not _task_side(k) and k != "top_k"}
        variant = self.data.get("variant")
        if variant is not None:
            setup.update({k: variant[k] for k in RUN_SETTINGS if k in variant})
        return setup

    @property
    def run_file(self) -> Path:
        name = self.data.get("run_file")
        return self.path.with_name(name) if isinstance(name, str) and "/" not in name and name else run_path(self.path)

    @property
    def queries_per_s(self) -> float | None:
        """Query throughput: `provenance.throughput.queries_per_s`, else queries over the seconds spent
        encoding queries and searching, when both phases are recorded; None for older files."""
        prov = self.data["provenance"]
        throughput = prov.get("throughput")
        if isinstance(throughput, dict) and is_number(throughput.get("queries_per_s")) and throughput["queries_per_s"] > 0:
            return float(throughput["queries_per_s"])
        seconds, n = prov.get("seconds"), self.data["task"].get("n_queries")
        if isinstance(seconds, dict) and is_number(n) and all(is_number(seconds.get(k)) for k in ("encode_queries", "search")):
            spent = seconds["encode_queries"] + seconds["search"]
            return n / spent if spent > 0 else None
        return None


def _task_side(key: str) -> bool:
    return any(part in TASK_SIDE or any(w in part for w in TASK_SIDE_WORDS) for part in key.split("."))


def flatten(obj, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if not isinstance(obj, dict):
        return {prefix: obj} if prefix else {}
    out = {}
    for k, v in obj.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _hash(obj) -> str:
    return identity_hash(obj, 12)


@dataclass
class Instance:
    """One model as evaluated: (name, revision, setup); for a trained model, one seed."""

    name: str
    revision: str
    setup: dict
    entries: dict[str, Entry] = field(default_factory=dict)  # task name -> entry

    @property
    def key(self) -> tuple[str, str, str]:
        return self.name, self.revision, _hash(self.setup)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.revision}"

    @property
    def card(self) -> dict | None:
        """The training card of a trained model (the same for all its result files), else None."""
        for entry in self.entries.values():
            if entry.card is not None:
                return entry.card
        return None

    @property
    def seed(self) -> int | None:
        return self.card.seed if self.card else None


@dataclass
class Row:
    """One line of the leaderboard: one instance, or the seeds of one training recipe averaged."""

    instances: list[Instance]
    variant: str = ""  # the setup keys that tell this row from others of the same model or recipe

    @property
    def first(self) -> Instance:
        return self.instances[0]

    @property
    def card(self) -> TrainingCard | None:
        return self.first.card

    @property
    def data(self) -> dict:
        return self.card.data if self.card else {}

    @property
    def base(self) -> tuple[str, str] | None:
        return self.card.base if self.card else None

    @property
    def mix(self) -> str:
        return self.card.mix if self.card else ""

    @property
    def budget(self) -> int | None:
        return self.card.budget if self.card else None

    @property
    def seeds(self) -> list:
        return [i.seed for i in self.instances]

    @property
    def name(self) -> str:
        return self.first.name

    @property
    def revision(self) -> str:
        return self.first.revision if len(self.instances) == 1 else f"{len(self.instances)} seeds"

    @property
    def label(self) -> str:
        """The full label: name@revision (or the recipe and its seeds), and the differing setup keys."""
        if len(self.instances) > 1:
            base = self.base[0] if self.base else "?"
            text = f"{base} + {self.mix}, budget {self.budget} (seeds {', '.join(str(s) for s in self.seeds)})"
        else:
            text = self.first.label
        return f"{text} [{self.variant}]" if self.variant else text

    @property
    def short(self) -> str:
        """A shorter label for plots and pickers; nothing is cut, the variant is kept whole."""
        if len(self.instances) > 1 or self.card:
            base = (self.base[0] if self.base else self.name).split("/")[-1]
            text = f"{base} + {self.mix} @{self.budget}" + (f" ×{len(self.instances)} seeds" if len(self.instances) > 1 else "")
        else:
            revision = self.revision.split(":")[-1][:8] if ":" in self.revision else self.revision
            if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):  # a git commit
                revision = revision[:8]
            text = f"{self.name.split('/')[-1]}@{revision}"
        return f"{text} [{self.variant}]" if self.variant else text

    def entries(self, task: str) -> list[Entry]:
        return [i.entries[task] for i in self.instances if task in i.entries]

    @property
    def all_entries(self) -> list[Entry]:
        return sorted((e for i in self.instances for e in i.entries.values()), key=lambda e: e.rel)

    @property
    def sort_key(self) -> tuple:
        return (self.base or (self.name, self.first.revision), self.card is not None, str(self.data.get("source", "")), mix_rank(self.mix),
                _budget_key(self.budget), self.name, self.first.revision, self.variant)


@dataclass
class TaskInfo:
    """A task as the leaderboard shows it: its record, family, columns and per-query measures."""

    name: str
    record: dict
    family: str
    columns: list[Column]  # main table
    per_query_columns: list[Column]  # significance and per-query views

    @property
    def main(self) -> Column:
        return self.columns[0]

    @property
    def pmrr(self) -> bool:
        return self.main.measure == PMRR


@dataclass
class Collection:
    rows: list[Row]
    tasks: dict[str, TaskInfo]  # in display order: by family, then name
    warnings: list[str]
    root: Path

    @property
    def columns(self) -> list[Column]:
        return [c for t in self.tasks.values() for c in t.columns]

    @property
    def entries(self) -> list[Entry]:
        return sorted((e for r in self.rows for e in r.all_entries), key=lambda e: e.rel)


def is_site(folder: Path) -> bool:
    """Whether `folder` holds a built leaderboard site (its `results/` are copies, not results)."""
    return (folder / SITE_MARKER).is_file() and (folder / "index.html").is_file()


def list_result_files(root: Path) -> tuple[list[Path], list[str]]:
    """Every `*.json` under root, and a warning for each file or folder left out: names starting with
    "." (hidden or temporary files, `.git`, editor backups) and folders holding a built site (a site
    built into the results folder would otherwise read its own copies back): named, never silently."""
    files, warnings = [], []
    hidden_dirs: dict[str, int] = {}
    sites = sorted({p.parent for p in root.rglob(SITE_MARKER) if is_site(p.parent)})
    for site in sites:
        warnings.append(f"not read {site.relative_to(root).as_posix() or '.'}/: it holds a built leaderboard site, whose results are copies.")
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        hidden = [p for p in rel.parts[:-1] if p.startswith(".")]
        if any(path.is_relative_to(site) for site in sites):
            continue
        if hidden:
            top = rel.parts[: rel.parts.index(hidden[0]) + 1]
            key = Path(*top).as_posix()
            hidden_dirs[key] = hidden_dirs.get(key, 0) + 1
        elif rel.name.startswith("."):
            warnings.append(f"not read {rel.as_posix()}: names starting with '.' mark hidden or temporary files; rename it to include it.")
        elif path.is_file():
            files.append(path)
    for folder, n in sorted(hidden_dirs.items()):
        warnings.append(f"not read {n} .json file(s) under {folder}/: folders starting with '.' are hidden; move them out to include them.")
    return files, warnings


def load_entries(root: Path) -> tuple[list[Entry], list[str]]:
    """Every readable result file under root; unreadable ones become warnings naming the file."""
    root = Path(root)
    if not root.is_dir():
        raise IfirError(f"{root}: no such results directory.")
    public_root = str(root.resolve())
    paths, warnings = list_result_files(root)
    entries = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        try:
            data = load_result(path)
        except IfirError as e:
            message = str(e).replace(str(path), rel).replace(str(path.resolve()), rel).removeprefix(rel + ": ")
            warnings.append(f"skipped {rel}: {message}")
            continue
        entries.append(Entry(path, rel, scrub_record(data, public_root)))
    return entries, warnings


def task_family(record: dict) -> str:
    """`task.family`, or for older files: FollowIR for instruction reranking, BEIR for a hub id, else local."""
    family = record.get("family")
    if isinstance(family, str) and family:
        return family
    if record.get("kind") == FOLLOWIR:
        return "followir"
    source = str(record.get("source") or "")
    return "beir" if "/" in source and not source.startswith((".", "/", "~")) and source.count("/") == 1 else "local"


def _pmrr_layout(record: dict, entries: list[Entry]) -> bool:
    """FollowIR-style results: p-MRR with each measure scored on og and changed qrels."""
    return record.get("kind") == FOLLOWIR or any(
        PMRR in e.data["metrics"] and isinstance(e.data["metrics"].get("og"), dict) for e in entries)


def task_info(record: dict, entries: list[Entry]) -> TaskInfo:
    """Main-table columns (p-MRR and each measure on og and changed qrels for FollowIR-style tasks,
    the main measure otherwise; paraphrase mean/sd/min when any result has them) and every measure
    stored per query."""
    name, kind = record["name"], record["kind"]
    measures = list(record.get("measures") or [])
    if _pmrr_layout(record, entries):
        columns = [Column(name, kind, PMRR)] + [Column(name, kind, m, part) for part in ("og", "changed") for m in measures]
    else:
        main = record.get("main_measure") or (measures or ["nDCG@10"])[0]
        # sub-scores of the main measure (IFIR: nDCG@20/level-1 ...) follow it
        subs = sorted({k for e in entries for k, v in e.data["metrics"].items() if k.startswith(main + "/") and is_number(v)})
        columns = [Column(name, kind, m) for m in (main, *subs)]
    if any(isinstance(e.data.get("paraphrases"), dict) for e in entries):
        measure = next(e.data["paraphrases"].get("measure") for e in entries if isinstance(e.data.get("paraphrases"), dict))
        columns += [Column(name, kind, str(measure or columns[0].measure), part, "paraphrases") for part in ("mean", "sd", "min")]
    per_query: dict[str, Column] = {}
    for c in columns:
        if c.source == "metrics":
            per_query[c.key] = c
    for e in entries:  # every measure stored per query: measure -> qid -> value, or part -> measure -> qid -> value
        for key, value in sorted(e.data["per_query"].items()):
            if not isinstance(value, dict) or not value:
                continue
            if all(isinstance(v, dict) for v in value.values()):
                for m in sorted(value):
                    c = Column(name, kind, m, key)
                    per_query.setdefault(c.key, c)
            else:
                c = Column(name, kind, key)
                per_query.setdefault(c.key, c)
    return TaskInfo(name, record, task_family(record), columns, list(per_query.values()))


def family_name(family_id: str) -> str:
    """The shown name of a family (`harness.families`); a family this version does not know keeps its id."""
    return FAMILIES[family_id].name if family_id in FAMILIES else family_id


def task_order(info: TaskInfo) -> tuple:
    family = list(FAMILIES).index(info.family) if info.family in FAMILIES else len(FAMILIES)
    return (family, info.family, info.name)


def collect(root: Path) -> Collection:
    entries, warnings = load_entries(root)
    instances: dict[tuple, Instance] = {}
    records: dict[str, dict] = {}
    by_task: dict[str, list[Entry]] = {}
    for entry in entries:
        name, revision = entry.model_key
        setup = entry.setup
        instance = instances.setdefault((name, revision, _hash(setup)), Instance(name, revision, setup))
        previous = instance.entries.get(entry.task)
        if previous is not None:
            keep, drop = sorted((previous, entry), key=lambda e: (e.created_at, e.rel), reverse=True)
            warnings.append(f"{instance.label} has two results for task '{entry.task}': using {keep.rel} (newer), not {drop.rel}.")
            instance.entries[entry.task] = keep
        else:
            instance.entries[entry.task] = entry
        record = entry.data["task"]
        known = records.setdefault(record["name"], record)
        if known is not record and (known.get("kind"), known.get("revision")) != (record.get("kind"), record.get("revision")):
            warnings.append(f"task '{record['name']}' has different kinds or data revisions across files ({entry.rel}).")
    kept = {id(e) for i in instances.values() for e in i.entries.values()}
    for entry in entries:
        if id(entry) in kept:
            by_task.setdefault(entry.task, []).append(entry)
    tasks = sorted((task_info(records[t], by_task[t]) for t in records), key=task_order)
    for entry in entries:
        if id(entry) in kept and not entry.run_file.is_file():
            warnings.append(f"{entry.rel}: its run file {entry.run_file.name} is missing.")
    rows = group_rows(sorted(instances.values(), key=lambda i: i.key))
    return Collection(rows, {t.name: t for t in tasks}, warnings, Path(root))


def _recipe(instance: Instance) -> tuple[tuple, dict]:
    """(group key, the settings that may differ within it) for an instance. Seeds of one training
    recipe share the key (base model, data source, budget, mix); untrained models group by name and
    revision. Settings: the setup, and for trained models the training config (seed left out)."""
    card = instance.card
    if card is None:
        return ("model", instance.name, instance.revision), dict(instance.setup)
    settings = {k: _anonymous(v, instance) for k, v in instance.setup.items() if not INSTANCE_KEYS & set(k.split("."))}
    settings.update({f"config.{k}": v for k, v in flatten(card.config).items() if not INSTANCE_KEYS & set(k.split("."))})
    key = ("trained", *card.base, card.source, json.dumps(card.budget, default=str), card.mix)
    return key, settings


def _anonymous(value, instance: Instance):
    """A setting with the instance's own name and revision replaced (a stage list names the model),
    so seeds of one recipe compare equal."""
    if isinstance(value, list):
        return [_anonymous(v, instance) for v in value]
    if isinstance(value, dict):
        return {k: _anonymous(v, instance) for k, v in value.items() if k not in INSTANCE_KEYS}
    if isinstance(value, str) and instance.name:
        return value.replace(instance.name, "<model>").replace(instance.revision, "<revision>") if instance.revision else value.replace(instance.name, "<model>")
    return value


def _show(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def group_rows(instances: list[Instance]) -> list[Row]:
    """Seeds of one recipe with the same settings become one row; rows of one model or recipe that
    differ in their settings get a variant label naming the keys that differ (`template="..."`)."""
    groups: dict[tuple, dict[str, list[Instance]]] = {}
    settings_of: dict[tuple, dict[str, dict]] = {}
    for instance in instances:
        key, settings = _recipe(instance)
        h = _hash(settings)
        trained = key[0] == "trained"
        sub = h if trained else f"{h}/{instance.key}"
        groups.setdefault(key, {}).setdefault(sub, []).append(instance)
        settings_of.setdefault(key, {})[sub] = settings
    rows = []
    for key, subs in groups.items():
        all_settings = settings_of[key]
        keys = sorted({k for s in all_settings.values() for k in s})
        differing = [k for k in keys if len({_show(s.get(k)) for s in all_settings.values()}) > 1]
        for sub, members in subs.items():
            s = all_settings[sub]
            variant = ", ".join(f"{k.removeprefix('model.')}={_show(s[k])}" for k in differing if k in s)
            members.sort(key=lambda i: (json.dumps(i.seed, default=str), i.key))
            rows.append(Row(members, variant))
    return sorted(rows, key=lambda r: r.sort_key)


def mix_rank(mix: str) -> tuple:
    return (MIX_ORDER.index(mix) if mix in MIX_ORDER else len(MIX_ORDER), mix)


def _budget_key(budget) -> tuple:
    return (0, float(budget), "") if is_number(budget) else (1, 0.0, str(budget))
