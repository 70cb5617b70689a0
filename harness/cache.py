"""On-disk embedding store: one memory-mapped float32 array per (model identity, set of texts).

Layout: `<root>/embeddings/<model key>/<text-set fingerprint>/` holds
- `rows.npy`: the row index, one 16-byte text key per row (sha256 of kind and text), in encoding order;
- `vectors.f32`: the rows, float32, appended shard by shard (normalised already when the model's
  similarity is cosine, so search reads them as they are, with no extra copy);
- `manifest.json`: rows, dimension, and each committed shard's end row and CRC-32.

A shard is committed by writing its rows, syncing them to disk, then replacing the manifest
atomically: a run killed mid-shard loses only that shard, and a shard that is cut short or whose
bytes changed fails its size or CRC check and is encoded again. Each distinct text is encoded once
per store; a task reads only its own store, through a memory map, never every vector of the model.
Location: `--cache-dir`, else $IFIR_BENCH_CACHE, else ~/.cache/ifir-bench.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import zlib
from pathlib import Path

import numpy as np

from harness.console import say, warning
from harness.fileio import atomic_write_bytes, atomic_write_json, disk_space

FORMAT = 1
KEY_DTYPE = "S16"
_CRC_BLOCK = 1 << 24


def default_cache_dir() -> Path:
    return Path(os.environ.get("IFIR_BENCH_CACHE") or Path.home() / ".cache" / "ifir-bench")


def text_key(kind: str, text: str) -> bytes:
    """16-byte key of one text as one kind ("query" / "document"): the row index's entries."""
    return hashlib.sha256(f"{kind}\0{text}".encode()).digest()[:16]


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s.replace("/", "__")).strip("_") or "_"


def fingerprint(keys: np.ndarray, *, normalized: bool) -> str:
    """Names a store: the sorted distinct keys, and whether rows are stored normalised."""
    h = hashlib.sha256(b"normalized\0" if normalized else b"raw\0")
    h.update(np.sort(keys).tobytes())
    return h.hexdigest()[:20]


class EmbeddingCache:
    """All stores of one model identity (`model_key`: a hash of everything that changes a vector)."""

    def __init__(self, root: Path, model_key: str):
        self.dir = Path(root) / "embeddings" / slug(model_key)

    def open(self, keys: np.ndarray, *, normalized: bool) -> VectorStore:
        """The store of these distinct keys (row order = `keys` order when it is created here)."""
        return VectorStore(self.dir / fingerprint(keys, normalized=normalized), keys, normalized=normalized)


class MemoryCache:
    """`EmbeddingCache` without a disk (`--no-cache`): stores live in memory as long as this object,
    so each text is still encoded once per run, whatever number of tasks or paraphrases reuse it."""

    def __init__(self):
        self._stores: dict[str, MemoryStore] = {}

    def open(self, keys: np.ndarray, *, normalized: bool) -> MemoryStore:
        key = fingerprint(keys, normalized=normalized)
        if key not in self._stores:
            self._stores[key] = MemoryStore(keys, normalized=normalized)
        return self._stores[key]


class MemoryStore:
    """One store's rows in one array in memory."""

    def __init__(self, keys: np.ndarray, *, normalized: bool):
        self.rows, self.normalized, self.done, self.dim = keys, normalized, 0, None
        self._matrix: np.ndarray | None = None

    def append(self, emb: np.ndarray) -> None:
        if self._matrix is None:
            self.dim = emb.shape[1]
            self._matrix = np.empty((len(self.rows), self.dim), dtype=np.float32)
        self._matrix[self.done : self.done + len(emb)] = prepare(emb, self.normalized)
        self.done += len(emb)

    def matrix(self) -> np.ndarray:
        return self._matrix if self._matrix is not None else np.zeros((0, 0), dtype=np.float32)

    def close(self) -> None:
        pass


def prepare(emb: np.ndarray, normalized: bool) -> np.ndarray:
    """float32 rows, unit length when the store is normalised: torch's `normalize` (as search always
    used), done in place so a shard is never copied twice."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if normalized:
        import torch

        t = torch.from_numpy(emb)
        t.div_(t.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    return emb


class VectorStore:
    """One (model, text set) store, locked against other writers while open (`close()` releases)."""

    def __init__(self, folder: Path, keys: np.ndarray, *, normalized: bool):
        self.dir = Path(folder)
        self.normalized = normalized
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / ".lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a line, not a spinner: a spinner shows nothing when stderr is no terminal
            say(f"waiting for another process to finish encoding these {len(keys)} texts into {self.dir} (the cache lock); "
                "this run then reads its vectors")
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.rows: np.ndarray = keys
        self.dim: int | None = None
        self.shards: list[dict] = []
        if not self._load(keys):
            self._create(keys)

    @property
    def done(self) -> int:
        """Rows committed so far (the first `done` rows of `rows`)."""
        return self.shards[-1]["end"] if self.shards else 0

    def _manifest(self) -> dict:
        return {"format": FORMAT, "rows": len(self.rows), "dim": self.dim, "normalized": self.normalized, "shards": self.shards}

    def _create(self, keys: np.ndarray) -> None:
        for name in ("manifest.json", "rows.npy", "vectors.f32"):
            (self.dir / name).unlink(missing_ok=True)
        self.rows, self.dim, self.shards = np.ascontiguousarray(keys, dtype=KEY_DTYPE), None, []
        buf = io.BytesIO()
        np.save(buf, self.rows)
        atomic_write_bytes(self.dir / "rows.npy", buf.getvalue())
        atomic_write_bytes(self.dir / "vectors.f32", b"")
        atomic_write_json(self.dir / "manifest.json", self._manifest())

    def _load(self, keys: np.ndarray) -> bool:
        """Open what is on disk, keeping every intact shard; False when nothing usable is there."""
        try:
            manifest = json.loads((self.dir / "manifest.json").read_text())
            rows = np.load(self.dir / "rows.npy", allow_pickle=False)
            ok = (
                manifest["format"] == FORMAT and manifest["normalized"] == self.normalized
                and rows.dtype == np.dtype(KEY_DTYPE) and len(rows) == manifest["rows"] == len(keys)
                and np.array_equal(np.sort(rows), np.sort(keys))
            )  # fmt: skip
            shards = [{"end": int(s["end"]), "crc32": int(s["crc32"])} for s in manifest["shards"]]
            dim = manifest["dim"]
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            ok = False
        if not ok:
            if (self.dir / "manifest.json").exists():
                warning(f"embedding store {self.dir} is damaged; encoding its texts again.")
            return False
        self.rows, self.dim = rows, dim
        self.shards = self._intact(shards)
        if len(self.shards) < len(shards):
            warning(
                f"embedding store {self.dir}: {len(shards) - len(self.shards)} of {len(shards)} shards are damaged "
                "or cut short; encoding their texts again."
            )
            atomic_write_json(self.dir / "manifest.json", self._manifest())
        return True

    def _intact(self, shards: list[dict]) -> list[dict]:
        """The leading shards whose bytes are all present and match their CRC-32."""
        if not shards:
            return []
        row_bytes = 4 * (self.dim or 0)
        good: list[dict] = []
        try:
            with open(self.dir / "vectors.f32", "rb") as f:
                size = os.fstat(f.fileno()).st_size
                start = 0
                for shard in shards:
                    if shard["end"] <= start or shard["end"] * row_bytes > size:
                        break
                    crc, left = 0, (shard["end"] - start) * row_bytes
                    while left:
                        block = f.read(min(left, _CRC_BLOCK))
                        if not block:
                            break
                        crc, left = zlib.crc32(block, crc), left - len(block)
                    if left or crc != shard["crc32"]:
                        break
                    good.append(shard)
                    start = shard["end"]
        except OSError:
            pass
        return good

    def append(self, emb: np.ndarray) -> None:
        """Commit the next rows as one shard: bytes synced first, then the manifest replaced."""
        emb = prepare(emb, self.normalized)
        if self.dim is None:
            self.dim = emb.shape[1]
        data = memoryview(emb).cast("B")
        with disk_space(self.dir), open(self.dir / "vectors.f32", "r+b") as f:
            f.seek(self.done * 4 * self.dim)
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
        self.shards.append({"end": self.done + len(emb), "crc32": zlib.crc32(data)})
        atomic_write_json(self.dir / "manifest.json", self._manifest())

    def matrix(self) -> np.ndarray:
        """The committed rows, memory-mapped (copy-on-write: readable as a tensor, never written back)."""
        if not self.done:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return np.memmap(self.dir / "vectors.f32", dtype=np.float32, mode="c", shape=(self.done, self.dim))

    def close(self) -> None:
        """Release the lock; the memory map stays readable."""
        if not self._lock.closed:
            self._lock.close()
