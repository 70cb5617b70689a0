"""Task names -> pinned sources. A task argument is a registered name, a group of names,
a local BEIR / FollowIR directory, or a hub dataset id `org/name[@revision]`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from harness.data.layouts import LAYOUTS, _configs
from harness.data.local import EXPORT_META, load_local
from harness.errors import IfirError
from harness.families import FAMILIES, INSTRUCTION_FOLLOWING, family
from harness.fileio import read_json
from harness.hub import revision_of_snapshot, snapshot
from harness.types import Task

FOLLOWIR = ["AP@1000", "nDCG@5"]
NEWS21 = ["nDCG@5", "AP@1000"]
MFOLLOWIR = ["nDCG@20"]
GENERAL = ["nDCG@10", "R@100"]


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: hub repo and pinned revision, the layout reading it, its family
    (`harness.families`: the scorer and main score come from there).

    `options` go to the layout reader (mFollowIR's language `subset`, BRIGHT's `domain` / `long`);
    `main` overrides the family's main score for this task (BRIGHT's -long tasks); `family_scorer`
    False leaves the family's extra measures out (IFIR sets whose query ids name no level);
    `size` is (documents, queries) as mteb's descriptive statistics give them; `pin_note` says
    where a pin is not a full commit taken from mteb's current task files.
    """

    name: str
    path: str  # hub dataset id
    revision: str | None
    layout: str = "mteb"
    split: str = "test"
    measures: list[str] | None = None
    family: str = "beir"
    options: dict = field(default_factory=dict)
    main: str | None = None
    family_scorer: bool = True
    ignore_identical_ids: bool = False
    size: tuple[int, int] | None = None
    pin_note: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        family(self.family, f"task '{self.name}'")  # declared families only

    @property
    def _scorer(self):
        """The family's `Scorer`, when this task uses it."""
        return FAMILIES[self.family].scorer if self.family_scorer else None

    @property
    def scorer(self) -> str | None:
        """The name of the family's scorer, when this task uses it."""
        return self._scorer.name if self._scorer else None

    @property
    def main_score(self) -> str | None:
        """The main score when it is not the task kind's default (its own, else the family scorer's)."""
        return self.main or (self._scorer.main if self._scorer else None)

    def load(self, folder: str | Path | None = None, *, split: str | None = None, measures: list[str] | None = None) -> Task:
        """Load from `folder` (a local copy in the repo's format) or from the pinned hub snapshot."""
        if folder is None:
            folder = snapshot(self.path, self.revision, repo_type="dataset", advice=export_advice(self.name))
            revision = revision_of_snapshot(folder)
        else:
            revision = f"local-copy-of:{self.path}@{self.revision or 'main'}"
        task = LAYOUTS.get(self.layout)(
            str(folder), name=self.name, split=split or self.split, measures=measures or self.measures, **self.options
        )
        task.source, task.revision = self.path, revision
        task.family, task.scorer, task.main = self.family, self.scorer, self.main_score
        task.meta.update(self.meta)
        if self.ignore_identical_ids:
            task.excluded = with_identical_ids(task)
        return task


def with_identical_ids(task: Task) -> dict[str, list[str]]:
    """The task's exclusions plus, for each query, the document that has its id (mteb's
    `ignore_identical_ids`, set for ArguAna and IFIR FiQA)."""
    excluded = {q: list(d) for q, d in (task.excluded or {}).items()}
    for qid in task.queries:
        if qid in task.corpus:
            excluded.setdefault(qid, []).append(qid)
    return excluded


# Revisions are those mteb pins today (mteb/tasks/**, read at mteb commit a905523d0111, Aug 2026);
# sizes (documents, queries) from mteb's descriptive statistics. FollowIR's measures follow Weller
# et al. 2024, mFollowIR's Weller et al. 2025.
IFIR_SHORT = "mteb pins a 7-character hash; the full commit cannot be resolved offline"
MTEB_V1 = "pinned by mteb 1.x; mteb 2 reads the mteb/* repos instead"

_BRIGHT = [  # domain, (documents, queries) standard, (documents, queries) long or None, mteb's query prompt
    ("biology", (57359, 103), (524, 103), "Represent this biology post for searching relevant passages: "),
    ("earth_science", (121249, 116), (601, 116), "Represent this earth_science post for searching relevant passages: "),
    ("economics", (50220, 103), (516, 103), "Represent this economics post for searching relevant passages: "),
    ("psychology", (52835, 101), (512, 101), "Represent this psychology post for searching relevant passages: "),
    ("robotics", (61961, 101), (508, 101), "Represent this robotics post for searching relevant passages: "),
    ("stackoverflow", (107081, 117), (1858, 117), "Represent this stackoverflow post for searching relevant passages: "),
    ("sustainable_living", (60792, 108), (554, 108), "Represent this sustainable_living post for searching relevant passages: "),
    ("pony", (7894, 112), (577, 112), "Represent this Pony question for searching relevant passages: "),
    ("leetcode", (413932, 142), None, "Represent this Coding problem for searching relevant examples: "),
    ("aops", (188002, 111), None, "Represent this Math problem for searching relevant examples: "),
    ("theoremqa_theorems", (23839, 65), None, "Represent this Math problem for searching relevant theorems: "),
    ("theoremqa_questions", (188002, 205), None, "Represent this Math problem for searching relevant examples: "),
]
BRIGHT_REPO, BRIGHT_REVISION = "mteb/BRIGHT", "c26703e6600d97c579ee2985f16cf307db13ed85"


def _bright() -> list[TaskSpec]:
    specs = []
    for domain, size, long_size, prompt in _BRIGHT:
        for long, n in ((False, size), (True, long_size)):
            if n is None:
                continue
            specs.append(TaskSpec(  # mteb's main score: nDCG@10, recall_at_1 for the -long tasks
                f"bright-{domain.replace('_', '-')}{'-long' if long else ''}", BRIGHT_REPO, BRIGHT_REVISION,
                layout="bright", split="long" if long else "standard", measures=[*GENERAL, "R@1"] if long else GENERAL,
                family="bright", options={"domain": domain, "long": long}, size=n, meta={"mteb_query_prompt": prompt},
                main="R@1" if long else None,
            ))
    return specs


def _mfollowir() -> list[TaskSpec]:
    sizes = {"fas": (41189, 80), "rus": (39326, 80), "zho": (41120, 86)}
    specs = []
    for lang, size in sizes.items():
        specs.append(TaskSpec(f"mfollowir-{lang}", "jhu-clsp/mFollowIR-parquet-mteb",
                              "09eecbe45c54b4a6dfb8e68e345cae77337768e2", measures=MFOLLOWIR, family="mfollowir",
                              options={"subset": lang}, size=size))
    for lang, size in sizes.items():
        specs.append(TaskSpec(f"mfollowir-cl-{lang}", "jhu-clsp/mFollowIR-cross-lingual-parquet-mteb",
                              "6b01566619233a0c35d135123510b6b02c258ff5", measures=MFOLLOWIR, family="mfollowir",
                              options={"subset": lang}, size=size, meta={"queries": "eng"}))
    return specs


def _ifir() -> list[TaskSpec]:
    # (name, repo, short revision, (documents, queries), has instruction levels (mteb's level_scores))
    sets = [
        ("aila", "if-ir/aila", "1cb8772", (2914, 85), True),
        ("cds", "if-ir/cds", "9a05fd6", (633955, 42), False),
        ("fiqa", "if-ir/fiqa", "1670fc6", (57638, 1718), True),
        ("fire", "if-ir/fire", "0efa7b1", (1745, 167), False),
        ("nfcorpus", "if-ir/nfcorpus", "3520715", (3633, 86), False),
        ("pm", "if-ir/pm", "559fdb6", (241006, 172), True),
        ("scifact-open", "if-ir/scifact_open", "1690191", (500000, 152), True),
    ]
    return [
        TaskSpec(f"ifir-{name}", repo, rev, measures=["nDCG@20"], family="ifir", family_scorer=levels,
                 ignore_identical_ids=name == "fiqa", size=size, pin_note=IFIR_SHORT)
        for name, repo, rev, size, levels in sets
    ]


_NANO = [
    ("arguana", "ArguAna", "8f4a982d470a32c45817738b9d29042ca55d75ad"),
    ("climatefever", "ClimateFEVER", "96741bfa30b9f56db8c9eb7d08e775ed6474f206"),
    ("dbpedia", "DBPedia", "438f1c25129f05db6238699b5afdc9c6b58d2096"),
    ("fever", "FEVER", "a8bfdf1bf15181167a7e22e69cf8754bdea9b4c8"),
    ("fiqa", "FiQA2018", "4163ba032953d5044a7a6244261413f609c14342"),
    ("hotpotqa", "HotpotQA", "d79c0cdda980aba54842756770928035e1b61a51"),
    ("msmarco", "MSMARCO", "7b8ff22f2771dc65ac5b439f222eb19a1f56abda"),
    ("nfcorpus", "NFCorpus", "dd542a7efb9ad2136b9e00768b60fca9038f8156"),
    ("nq", "NQ", "77540146379abf95df8326a3c5bb9eb21c7146c3"),
    ("quora", "QuoraRetrieval", "2ab2d73e6c862026282808b913a34f4136928545"),
    ("scidocs", "SCIDOCS", "484eb90549fc3f0b9c42b3551e80ceb999515537"),
    ("scifact", "SciFact", "309f1d1ae3ae2e092444a8a0c25bed59b82318bc"),
    ("touche2020", "Touche2020", "0d2f26ed8c5ad309f95c7f9499c70a40e140fccd"),
]

REGISTRY: dict[str, TaskSpec] = {
    s.name: s
    for s in [
        # FollowIR: mteb PR #4200 moved all three sets to mteb/*.
        TaskSpec("robust04", "mteb/Robust04InstructionRetrieval", "0495a5cb69aa8fa5bca81bd56ac248911c19eeb6",
                 measures=FOLLOWIR, family="followir", size=(47492, 104)),
        TaskSpec("news21", "mteb/News21InstructionRetrieval", "c6fffeb9cdd95c1ffa81c62c687b48b56352872b",
                 measures=NEWS21, family="followir", size=(30921, 64)),
        TaskSpec("core17", "mteb/Core17InstructionRetrieval", "67d8733dd0691f08f34ed9dda5941578cba8d91c",
                 measures=FOLLOWIR, family="followir", size=(19899, 40)),
        TaskSpec("robust04-v1", "jhu-clsp/robust04-instructions", "a5a1c4fe2bc528ac12e83f8cdf82178da85d2f1d",
                 layout="followir-v1", measures=FOLLOWIR, family="followir", pin_note=MTEB_V1),
        TaskSpec("news21-v1", "jhu-clsp/news21-instructions", "e0144086b45fe31ac125e9ac1a83b6a409bb6ca6",
                 layout="followir-v1", measures=NEWS21, family="followir", pin_note=MTEB_V1),
        TaskSpec("core17-v1", "jhu-clsp/core17-instructions", "e39ff896cf3efbbdeeb950e6bd7c79f266995b07",
                 layout="followir-v1", measures=FOLLOWIR, family="followir", pin_note=MTEB_V1),
        *_mfollowir(),
        TaskSpec("instructir", "mteb/InstructIR-mteb", "42c3afabe480643b755a7099dbf0f9ebeedaf6ca",
                 measures=["nDCG@10"], family="instructir",
                 size=(16072, 9906)),
        *_ifir(),
        *_bright(),
        TaskSpec("nevir", "orionweller/NevIR-mteb", "eab99575c01c6a8e39f8d2adc6e3c3adcfe84413",
                 measures=["R@1", "nDCG@10"], family="nevir",
                 size=(5112, 2766)),
        TaskSpec("scifact", "mteb/scifact", "d56462d0e63a25450459c4f213e49ffdb866f7f9", size=(5183, 300)),
        TaskSpec("nfcorpus", "mteb/nfcorpus", "ec0fa4fe99da2ff19ca1214b7966684033a58814", size=(3633, 323)),
        TaskSpec("fiqa", "mteb/fiqa", "27a168819829fe9bcd655c2df245fb19452e8e06", size=(57638, 648)),
        TaskSpec("arguana", "mteb/arguana", "c22ab2a51041ffd869aaddef7af8d8215647e41a", ignore_identical_ids=True,
                 size=(8674, 1406)),
        TaskSpec("scidocs", "mteb/scidocs", "f8c2fcf00f625baaa80f62ec5bd9e1fff3b8ae88", size=(25657, 1000)),
        *(TaskSpec(f"nano-{short}", f"zeta-alpha-ai/Nano{name}", rev, layout="nanobeir", split="train")
          for short, name, rev in _NANO),
    ]
}


def _family(name: str) -> list[str]:
    return [n for n, s in REGISTRY.items() if s.family == name and not n.endswith("-v1")]


GROUPS = {
    **{family: _family(family) for family in INSTRUCTION_FOLLOWING},
    "instruction-following": [n for family in INSTRUCTION_FOLLOWING for n in _family(family)],
    "beir": ["scifact", "nfcorpus", "fiqa", "arguana", "scidocs"],
    "nanobeir": [n for n in REGISTRY if n.startswith("nano-")],
}

SAMPLE = "sample"


def sample_dir() -> Path:
    """The embedded FollowIR-format sample collection shipped inside the package."""
    return Path(str(files("harness") / "sample_data" / "sample"))


def expand(names: str | list[str]) -> list[str]:
    """'followir,scifact' -> ['robust04', 'news21', 'core17', 'scifact']."""
    items = names.split(",") if isinstance(names, str) else names
    out: list[str] = []
    for item in (i.strip() for i in items):
        if item:
            out += GROUPS.get(item, [item])
    return out


def exported_split(root: Path) -> str | None:
    """The split `ifir-bench data export` wrote (BRIGHT's `standard`, NanoBEIR's `train`), if any."""
    meta = root / EXPORT_META
    if not meta.is_file():
        return None
    data = read_json(meta)
    return data.get("split") if isinstance(data, dict) else None


def export_advice(name: str) -> str:
    return f"on a machine with the hub run `ifir-bench data export {name} DIR`, copy DIR here and pass it to --tasks."


def _is_hub_id(name: str) -> bool:
    """`org/name[@revision]`, unless `org` is a local folder (then it was meant as a path)."""
    org = name.split("/")[0]
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and all(name.split("/")) and not Path(org).is_dir()


def check_task(name: str, *, split: str | None = None) -> None:
    """Fail at once, before any work, when `name` cannot be loaded: an unknown name, a missing or
    incomplete directory, hub data neither cached nor reachable. Cheap: no data file is read."""
    from harness.data.local import check_layout
    from harness.hub import ensure_available

    path = Path(name).expanduser()
    if name == SAMPLE:
        return
    if name in REGISTRY:
        spec = REGISTRY[name]
        ensure_available(spec.path, spec.revision, repo_type="dataset", advice=export_advice(name))
    elif path.is_dir():
        check_layout(path, split or exported_split(path) or "test")
    elif _is_hub_id(name):
        repo_id, _, revision = name.partition("@")
        ensure_available(repo_id, revision or None, repo_type="dataset", advice=export_advice(name))
    else:
        raise _not_a_task(name)


def _not_a_task(name: str) -> IfirError:
    """The error for a --tasks item that is no name, directory or hub id."""
    if Path(name).expanduser().exists():
        return IfirError(f"{name}: not a directory (a task folder holds corpus.jsonl, queries.jsonl and qrels/).")
    if name.startswith((".", "/", "~")) or "/" in name or "\\" in name:
        return IfirError(f"{name}: no such directory.")
    close = difflib.get_close_matches(name, [SAMPLE, *REGISTRY, *GROUPS], n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return IfirError(
        f"Unknown task '{name}': not a registered name (see `ifir-bench tasks`), a local directory, "
        f"or a hub dataset id (org/name).{hint}"
    )


def detect_layout(folder: str) -> str:
    """The layout of a hub repo folder, from its configs (and, for NanoBEIR, its qrels split)."""
    from datasets import get_dataset_split_names

    configs = set(_configs(folder))
    if {"qrels_og", "qrels_changed"} <= configs:
        return "followir-v1"
    if "qrels" in configs and "default" not in configs and get_dataset_split_names(folder, config_name="qrels") == ["train"]:
        return "nanobeir"
    return "mteb"


def load_task(name: str, *, split: str | None = None, measures: list[str] | None = None) -> Task:
    """One task by registered name, local directory or hub id (see module doc)."""
    if name == SAMPLE:
        task = load_local(sample_dir(), split=split or "test", name=SAMPLE)
    elif name in REGISTRY:
        task = REGISTRY[name].load(split=split)
    elif Path(name).expanduser().is_dir():
        root = Path(name).expanduser()
        task = load_local(root, split=split or exported_split(root) or "test")
    elif _is_hub_id(name):
        repo_id, _, revision = name.partition("@")
        folder = snapshot(repo_id, revision or None, repo_type="dataset", advice=export_advice(name))
        layout = detect_layout(folder)
        task = LAYOUTS.get(layout)(folder, name=repo_id.split("/")[-1], split=split or "test", measures=None)
        task.source, task.revision = repo_id, revision_of_snapshot(folder)
    else:
        raise _not_a_task(name)
    if measures:
        task.measures = list(measures)
    return task


def task_listing(width: int = 80) -> list[str]:
    """`ifir-bench tasks`: every registered task by family, with size, hub id and pinned revision
    unabridged (on a line of their own when they do not fit beside each other), within `width`."""
    import functools
    import textwrap

    wrap = functools.partial(textwrap.wrap, width=width, break_on_hyphens=False)
    lines = ["sample: embedded FollowIR-format sample (12 topics, 304 documents); p-MRR", ""]
    families = list(dict.fromkeys(s.family for s in REGISTRY.values()))
    for family_id in families:
        f = FAMILIES[family_id]
        main = f"{f.main} ({f.main_note})" if f.main_note else f.main
        lines += wrap(f"{f.id}: main score {main}; also {f.also}. {f.reference}", subsequent_indent="  ")
        for spec in (s for s in REGISTRY.values() if s.family == family_id):
            size = f"{spec.size[0]:>9,} docs {spec.size[1]:>6,} queries" if spec.size else ""
            split = "" if spec.split == "test" else f"  split {spec.split}"
            lines.append(f"  {spec.name:<30} {size}{split}".rstrip())
            pin = f"{spec.path}@{spec.revision or 'main'}"
            lines += [f"    {pin}"] if len(pin) + 4 <= width else [f"    {spec.path}", f"    @{spec.revision}"]
            if spec.pin_note:
                lines += wrap(f"({spec.pin_note})", initial_indent="    ", subsequent_indent="    ")
        lines.append("")
    lines.append("groups:")
    for group, names in GROUPS.items():
        members = ", ".join(names) if group != "instruction-following" else (
            f"{', '.join(INSTRUCTION_FOLLOWING)} ({len(names)} tasks)")
        lines += wrap(f"{group}: {members}", initial_indent="  ", subsequent_indent="    ")
    return lines
