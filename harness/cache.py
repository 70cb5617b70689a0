"""On-disk embedding cache: one folder per model identity, shards written atomically.

Keys are sha256 of (kind, text), so a document shared by several queries, tasks or instruction
variants is encoded once per model; a run interrupted mid-corpus keeps every finished shard.
Location: `--cache-dir`, else $IFIR_BENCH_CACHE, else ~/.cache/ifir-bench.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.fileio import atomic_write_bytes


def default_cache_dir() -> Path:
    return Path(os.environ.get("IFIR_BENCH_CACHE") or Path.home() / ".cache" / "ifir-bench")


def text_key(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()[:32]


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s.replace("/", "__")).strip("_") or "_"


class EmbeddingCache:
    def __init__(self, root: Path, model_key: str):
        self.dir = Path(root) / "embeddings" / slug(model_key)
        self._index: dict[str, tuple[int, int]] | None = None
        self._shards: list[np.ndarray] = []

    def _load(self) -> dict[str, tuple[int, int]]:
        if self._index is None:
            self._index = {}
            for path in sorted(self.dir.glob("shard-*.npz")) if self.dir.is_dir() else []:
                try:
                    with np.load(path) as z:
                        keys, emb = z["keys"], z["emb"]
                except (OSError, ValueError, KeyError, EOFError):
                    continue  # a damaged shard is re-encoded, never trusted
                n = len(self._shards)
                self._shards.append(emb)
                for row, key in enumerate(keys):
                    self._index[str(key)] = (n, row)
        return self._index

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        index = self._load()
        return {k: self._shards[index[k][0]][index[k][1]] for k in keys if k in index}

    def put_many(self, keys: Sequence[str], emb: np.ndarray) -> None:
        index = self._load()
        n = len(self._shards)
        buf = io.BytesIO()
        np.savez(buf, keys=np.array(keys), emb=emb)
        name = f"shard-{n:06d}-{hashlib.sha256(''.join(keys).encode()).hexdigest()[:8]}.npz"
        atomic_write_bytes(self.dir / name, buf.getvalue())
        self._shards.append(emb)
        for row, key in enumerate(keys):
            index[key] = (n, row)
