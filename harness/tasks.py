"""Task names -> pinned sources. A task argument is a registered name, a group of names,
a local BEIR / FollowIR directory, or a hub dataset id `org/name[@revision]`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from harness.data.hub import LAYOUTS, _configs
from harness.data.local import load_local
from harness.errors import IfirError
from harness.hub import revision_of_snapshot, snapshot
from harness.types import Task

FOLLOWIR = ["AP@1000", "nDCG@5"]
NEWS21 = ["nDCG@5", "AP@1000"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    path: str  # hub dataset id
    revision: str | None
    layout: str = "mteb"
    split: str = "test"
    measures: list[str] | None = None
    description: str = ""
    meta: dict = field(default_factory=dict)

    def load(self, folder: str | Path | None = None, *, split: str | None = None, measures: list[str] | None = None) -> Task:
        """Load from `folder` (a local copy in the repo's format) or from the pinned hub snapshot."""
        if folder is None:
            folder = snapshot(
                self.path,
                self.revision,
                repo_type="dataset",
                advice=(
                    f"on a machine with the hub run `ifir-bench data export {self.name} DIR`, copy DIR here "
                    f"and pass it to --tasks."
                ),
            )
            revision = revision_of_snapshot(folder)
        else:
            revision = f"local-copy-of:{self.path}@{self.revision or 'main'}"
        task = LAYOUTS[self.layout](
            str(folder), name=self.name, split=split or self.split, measures=measures or self.measures
        )
        task.source, task.revision = self.path, revision
        return task


def _spec(name, path, revision, **kw) -> TaskSpec:
    return TaskSpec(name, path, revision, **kw)


# Revisions are those mteb pins (mteb/tasks/.../*.py); FollowIR's measures follow Weller et al. 2024.
REGISTRY: dict[str, TaskSpec] = {
    s.name: s
    for s in [
        # Robust04: mteb pins the jhu-clsp v2 repo (mteb/Robust04InstructionRetrieval mirrors it).
        _spec("robust04", "jhu-clsp/robust04-instructions-mteb", "0a3efedfcac0a7f859c46cff3a0fac0f8747b28f", measures=FOLLOWIR),
        _spec("news21", "mteb/News21InstructionRetrieval", "c6fffeb9cdd95c1ffa81c62c687b48b56352872b", measures=NEWS21),
        _spec("core17", "mteb/Core17InstructionRetrieval", "67d8733dd0691f08f34ed9dda5941578cba8d91c", measures=FOLLOWIR),
        _spec("robust04-v1", "jhu-clsp/robust04-instructions", "a5a1c4fe2bc528ac12e83f8cdf82178da85d2f1d", layout="followir-v1", measures=FOLLOWIR),
        _spec("news21-v1", "jhu-clsp/news21-instructions", "e0144086b45fe31ac125e9ac1a83b6a409bb6ca6", layout="followir-v1", measures=NEWS21),
        _spec("core17-v1", "jhu-clsp/core17-instructions", "e39ff896cf3efbbdeeb950e6bd7c79f266995b07", layout="followir-v1", measures=FOLLOWIR),
        _spec("scifact", "mteb/scifact", "d56462d0e63a25450459c4f213e49ffdb866f7f9"),
        _spec("nfcorpus", "mteb/nfcorpus", "ec0fa4fe99da2ff19ca1214b7966684033a58814"),
        _spec("fiqa", "mteb/fiqa", "27a168819829fe9bcd655c2df245fb19452e8e06"),
        _spec("arguana", "mteb/arguana", "c22ab2a51041ffd869aaddef7af8d8215647e41a"),
        _spec("scidocs", "mteb/scidocs", "f8c2fcf00f625baaa80f62ec5bd9e1fff3b8ae88"),
    ]
    + [
        _spec(f"nano-{short}", f"zeta-alpha-ai/Nano{name}", rev, layout="nanobeir", split="train")
        for short, name, rev in [
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
    ]
}

GROUPS = {
    "followir": ["robust04", "news21", "core17"],
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
        task = load_local(Path(name).expanduser(), split=split or "test")
    elif name.count("/") == 1 and not name.startswith((".", "/", "~")):
        repo_id, _, revision = name.partition("@")
        folder = snapshot(repo_id, revision or None, repo_type="dataset", advice=(
            f"on a machine with the hub run `ifir-bench data export {name} DIR`, copy DIR here and pass it to --tasks."))
        layout = detect_layout(folder)
        task = LAYOUTS[layout](folder, name=repo_id.split("/")[-1], split=split or "test", measures=None)
        task.source, task.revision = repo_id, revision_of_snapshot(folder)
    else:
        known = [SAMPLE, *REGISTRY, *GROUPS]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise IfirError(
            f"Unknown task '{name}': not a registered name (see `ifir-bench tasks`), a local directory, "
            f"or a hub dataset id (org/name).{hint}"
        )
    if measures:
        task.measures = list(measures)
    return task
