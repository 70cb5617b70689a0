"""Result files: one JSON per (model, task), versioned, written atomically; TREC runs beside them.

Everything downstream (tables, the leaderboard) is rebuilt from these files alone.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.cache import slug
from harness.devices import default_device, device_names
from harness.errors import IfirError
from harness.fileio import atomic_write_json, atomic_write_text, read_json
from harness.ranking import ranked
from harness.record import ResultRecord
from harness.types import Run

TRACKED_PACKAGES = ("ifir-bench", "torch", "sentence-transformers", "transformers", "ir-measures", "datasets", "pyserini")


def safe_name(name: str, limit: int = 100) -> str:
    """A name usable as one path component that can never leave its folder: slugged, never `.`,
    `..` or hidden, and cut (with a hash of the whole) when long."""
    s = slug(str(name))
    if s.startswith("."):
        s = "_" + s
    if len(s) > limit:
        s = s[: limit - 9] + "-" + hashlib.sha256(str(name).encode()).hexdigest()[:8]
    return s


def display_name(model: dict) -> str:
    """The short, stable name that status lines and tables show for a model (its full spec stays in
    the result file): per pipeline stage, a registered name as typed (`minilm`, `bm25:k1=1.2,b=0.75`),
    of a folder or hub id its last part (`cross-encoder:/a/b/ce` -> `ce`), else (a plugin) its own name."""
    from harness.models.registry import models

    def short(meta: dict) -> str:
        spec = meta.get("spec") or meta["name"]
        if "/" in spec:
            return spec.rstrip("/").rsplit("/", 1)[-1]
        return spec if spec.partition(":")[0] in models else meta["name"]

    stages = model.get("extra", {}).get("stages") if model.get("kind") == "pipeline" else None
    return ">>".join(map(short, stages or [model]))


def result_path(output: Path, model_name: str, model_revision: str, task_name: str, variant: str | None = None) -> Path:
    """`<output>/<model>/<revision>/<task>.json`, as mteb lays out its results; a run with
    non-default settings (another template, measures, split, top-k) adds `@<hash of them>`."""
    stem = safe_name(task_name) + (f"@{variant[:8]}" if variant else "")
    path = Path(output) / safe_name(model_name) / safe_name(model_revision, 40) / f"{stem}.json"
    if not path.resolve().is_relative_to(Path(output).resolve()):  # belt and braces: never outside --output
        raise IfirError(f"Result path {path} would leave --output {output}.")
    return path


def run_path(result_file: Path) -> Path:
    return result_file.with_suffix(".run.trec")


def write_trec_run(path: Path, run: Run, tag: str) -> None:
    """TREC run format, ranks in the project's order (`harness.ranking`); scores with 9 significant
    digits (exact for float32), so trec_eval re-ranks the file exactly as it was scored."""
    lines = []
    for qid in sorted(run):
        for rank, doc in enumerate(ranked(run[qid]), start=1):
            lines.append(f"{qid} Q0 {doc} {rank} {run[qid][doc]:.9g} {tag}\n")
    atomic_write_text(path, "".join(lines))


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_description(device: str | None) -> str:
    """The hardware that ran the models: with no --device, sentence-transformers takes CUDA when present."""
    import torch

    on_cuda = any(d.startswith("cuda") for d in device_names(device) or [default_device()])
    if on_cuda and torch.cuda.is_available():
        return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def provenance(command: str | None, seconds: dict, device: str | None) -> dict:
    return {
        "command": command or "python: " + shlex.join(sys.argv),
        "ifir_bench_version": package_versions().get("ifir-bench"),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "device": device_description(device),
        "python": platform.python_version(),
    }


def save_result(path: Path, result: dict, run: Run) -> Path:
    """Write the run (TREC) first, then the result JSON: a result file always has its run."""
    path = Path(path)
    run_file = run_path(path)
    write_trec_run(run_file, run, tag=slug(result["model"]["name"]))
    result = dict(result, run_file=run_file.name)
    atomic_write_json(path, result)
    return path


def read_record(path: Path) -> ResultRecord:
    """A result file as a checked record: clear errors for truncated JSON, another schema, missing
    or mistyped fields and numbers that cannot be scores (`ResultRecord.from_dict`)."""
    path = Path(path)
    return ResultRecord.from_dict(read_json(path, hint="; the file may be truncated"), path=path)


def load_result(path: Path) -> dict:
    """A result file, checked (`read_record`), as the dict it holds."""
    return read_record(path).to_dict()


def find_results(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*.json") if not p.name.startswith("."))
