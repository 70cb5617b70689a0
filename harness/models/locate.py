"""Where a model's files are: a local folder, pinned by a fingerprint of its files, or a hub id
`org/name[@revision]`, pinned by the commit of its snapshot."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harness.errors import IfirError
from harness.hub import revision_of_snapshot, snapshot


def path_fingerprint(path: str | Path) -> str:
    """A cheap, stable identity for a local model folder: file names, sizes, and hashes of
    small files plus the head and tail of large ones."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts):
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
        advice=f"download it where the hub is reachable (huggingface-cli download {repo_id}) and pass the folder to {option}.",
    )
    return folder, repo_id, revision_of_snapshot(folder)
