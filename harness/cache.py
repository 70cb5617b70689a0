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

Parts (`ifir-bench encode --part K/N`): `<store>/part-K-of-N/` is a store of its own, holding block K
of the store's row order (whole batches, so every part encodes exactly the batches one process would);
each part is written by one process only, and search reads the parts together through their memory maps.
"""

from __future__ import annotations

import errno
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
from harness.errors import IfirError
from harness.fileio import atomic_write_bytes, atomic_write_json, disk_space

FORMAT = 1
KEY_DTYPE = "S16"
_CRC_BLOCK = 1 << 24
PART_DIR = re.compile(r"part-(\d+)-of-(\d+)")


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


def part_bounds(rows: int, batch_size: int, part: int, parts: int) -> tuple[int, int]:
    """Rows [start, end) of part `part` (1..parts) of a store: a contiguous block of whole batches."""
    batches = -(-rows // batch_size)
    return min(rows, (part - 1) * batches // parts * batch_size), min(rows, part * batches // parts * batch_size)


class EmbeddingCache:
    """All stores of one model identity (`model_key`: a hash of everything that changes a vector)."""

    def __init__(self, root: Path, model_key: str):
        self.root = Path(root)
        self.dir = self.root / "embeddings" / slug(model_key)

    def open(self, keys: np.ndarray, *, normalized: bool) -> VectorStore:
        """The store of these distinct keys (row order = `keys` order when it is created here)."""
        return VectorStore(self.dir / fingerprint(keys, normalized=normalized), keys, normalized=normalized)

    def open_part(self, keys: np.ndarray, *, normalized: bool, part: int, parts: int, batch_size: int, about: dict) -> VectorStore:
        """The store of part `part` of `parts` of these keys (in this order), written by this process
        alone; `about` (task, model, command) is kept in its manifest for the messages of `read_parts`."""
        start, end = part_bounds(len(keys), batch_size, part, parts)
        block = {"part": part, "parts": parts, "start": start, "end": end, "rows": len(keys), "batch_size": batch_size}
        folder = self.dir / fingerprint(keys, normalized=normalized) / f"part-{part}-of-{parts}"
        return VectorStore(folder, keys[start:end], normalized=normalized, part=block, about=about)

    def read_parts(self, keys: np.ndarray, *, normalized: bool, what: str) -> PartedMatrix | None:
        """The rows of these keys (in this order) read from the parts of their store, or None where
        there are no parts or the whole store is complete. Parts that are missing, incomplete, damaged
        or made for other bounds raise one IfirError naming them and the command that makes them;
        so do parts of this text set made only under another model identity. Nothing is written."""
        folder = self.dir / fingerprint(keys, normalized=normalized)
        if _complete_store(folder):
            return None
        found = [d for d in folder.glob("part-*-of-*") if PART_DIR.fullmatch(d.name) and d.is_dir()]
        if not found:
            elsewhere = sorted(d.parent.parent.name for d in self.dir.parent.glob(f"*/{folder.name}/part-*-of-*")
                               if d.parent.parent != self.dir)
            if elsewhere:
                about = _about(next(self.dir.parent.glob(f"{elsewhere[0]}/{folder.name}/part-*-of-*")))
                raise IfirError(
                    f"the embedding parts of {what} were made under another model identity ({elsewhere[0]}, by "
                    f"`{about.get('command') or 'ifir-bench encode'}`), not this run's ({self.dir.name}); run with the model settings "
                    f"they were made with, or make parts for these settings with `ifir-bench encode ... --part K/N "
                    f"--cache-dir {self.root}`, or use another --cache-dir to encode in this process."
                )
            return None
        sets: dict[int, list[Path]] = {}
        for d in found:
            sets.setdefault(int(PART_DIR.fullmatch(d.name)[2]), []).append(d)
        problems = {}
        for parts in sorted(sets, key=lambda n: -len(sets[n])):
            matrix, problems[parts] = _read_parts(self.root, folder, keys, normalized, parts)
            if matrix is not None:
                return matrix
        parts = max(sets, key=lambda n: len(sets[n]))
        bad, commands, task = problems[parts]
        raise IfirError(
            f"the embedding parts of {what}{f' of {task}' if task else ''} in {folder} are not all there ({', '.join(bad)}): "
            f"make {'it' if len(commands) == 1 else 'them'} with {' and '.join(f'`{c}`' for c in commands)}, then run again "
            f"(nothing was searched)."
        )


def _complete_store(folder: Path) -> bool:
    """Whether the whole store in `folder` says all its rows are committed (its CRCs are checked when it is opened)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        return bool(manifest["shards"]) and manifest["shards"][-1]["end"] == manifest["rows"]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def _manifest_of(folder: Path):
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _about(folder: Path) -> dict:
    try:
        about = json.loads((folder / "manifest.json").read_text()).get("about")
        return about if isinstance(about, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _part_command(about: dict, part: int, parts: int, root: Path) -> str:
    """The command that makes part `part` of `parts`: the one recorded by a sibling part, with this part."""
    command = about.get("command")
    if command and re.search(r"--part[ =]\S+", command):
        return re.sub(r"--part[ =]\S+", f"--part {part}/{parts}", command)
    model, task = about.get("model", "MODEL"), about.get("task", "TASK")
    batch = about.get("batch_size", 32)
    return f"ifir-bench encode --model {model} --tasks {task} --part {part}/{parts} --batch-size {batch} --cache-dir {root}"


def _read_parts(root: Path, folder: Path, keys: np.ndarray, normalized: bool, parts: int) -> tuple[PartedMatrix | None, tuple]:
    """(the parts' rows as one matrix, or None and (one phrase per bad part, the commands that make them, the task))."""
    dirs = [folder / f"part-{k}-of-{parts}" for k in range(1, parts + 1)]
    manifests = {}
    for k, d in enumerate(dirs, start=1):
        try:
            manifests[k] = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            pass
    sizes = [m.get("part", {}).get("batch_size") for m in manifests.values() if isinstance(m, dict) and isinstance(m.get("part"), dict)]
    batch_size = max(set(sizes), key=sizes.count) if sizes else None
    about = next((m["about"] for m in manifests.values() if isinstance(m, dict) and isinstance(m.get("about"), dict)), {})
    bad, commands, matrices, starts = [], [], [], []
    for k, d in enumerate(dirs, start=1):
        start, end = part_bounds(len(keys), batch_size or 1, k, parts)
        expected = {"part": k, "parts": parts, "start": start, "end": end, "rows": len(keys), "batch_size": batch_size}
        if not d.is_dir():
            problem = "missing"
        elif k not in manifests:
            problem = "unreadable (no manifest.json)"
        else:
            problem, matrix = _check_part(d, manifests[k], keys[start:end], normalized, expected)
            if problem is None:
                if len(matrix):  # a part past the last batch holds no rows
                    matrices.append(matrix)
                    starts.append(start)
                continue
        bad.append(f"part {k}/{parts} is {problem}")
        commands.append(_part_command(about | ({"batch_size": batch_size} if batch_size else {}), k, parts, root))
    if bad or batch_size is None:
        return None, (bad, commands, about.get("task"))
    return PartedMatrix(matrices, starts), ()


def _check_part(folder: Path, manifest, keys: np.ndarray, normalized: bool, expected: dict) -> tuple[str | None, np.ndarray | None]:
    """(None, the part's memory-mapped rows) for a complete, intact part of these keys; else (what is wrong, None)."""
    try:
        block, dim, rows = manifest["part"], manifest["dim"], manifest["rows"]
        shards = [{"end": int(s["end"]), "crc32": int(s["crc32"])} for s in manifest["shards"]]
        if manifest["format"] != FORMAT or manifest["normalized"] != normalized or block != expected:
            made = block.get("batch_size") if isinstance(block, dict) else None
            return (f"made for other bounds (batch size {made}, not {expected['batch_size']}, or another split)"
                    if made != expected["batch_size"] else "made for another text set or split"), None
        stored = np.load(folder / "rows.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return "damaged (its manifest or row index cannot be read)", None
    if rows != len(keys) or not np.array_equal(stored, keys):
        return "made for another text set", None
    good = intact_shards(folder / "vectors.f32", shards, dim)
    done = good[-1]["end"] if good else 0
    if len(good) < len(shards):
        return f"damaged ({done} of {rows} rows intact)", None
    if done < rows:
        return f"incomplete ({done} of {rows} rows)", None
    if not rows:
        return None, np.zeros((0, dim or 0), dtype=np.float32)
    return None, np.memmap(folder / "vectors.f32", dtype=np.float32, mode="r", shape=(rows, dim))


class PartedMatrix:
    """The rows of consecutive parts addressed as one matrix: `m[rows]` gathers rows from the parts'
    memory maps, so only the rows asked for are read (search asks one chunk at a time)."""

    def __init__(self, parts: list[np.ndarray], starts: list[int]):
        self.parts, self.starts = parts, np.array(starts, dtype=np.int64)
        self.shape = (int(self.starts[-1]) + len(parts[-1]), parts[0].shape[1])

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        for p in np.unique(which):
            mask = which == p
            out[mask] = self.parts[p][rows[mask] - self.starts[p]]
        return out


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
    """One (model, text set) store, locked against other writers while open (`close()` releases).

    A part's store carries its block (`part`: part, parts, start, end, rows, batch_size), checked when
    it is opened again, and `about` (who made it), rewritten with each commit."""

    def __init__(self, folder: Path, keys: np.ndarray, *, normalized: bool, part: dict | None = None, about: dict | None = None):
        self.dir = Path(folder)
        self.normalized = normalized
        self.part, self.about = part, about
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / ".lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a line, not a spinner: a spinner shows nothing when stderr is no terminal
            say(f"waiting for another process to finish encoding these {len(keys)} texts into {self.dir} (the cache lock); "
                "this run then reads its vectors")
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        except OSError as e:  # a file system without flock (some NFS / Lustre mounts): a part has one writer anyway
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
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
        manifest = {"format": FORMAT, "rows": len(self.rows), "dim": self.dim, "normalized": self.normalized, "shards": self.shards}
        if self.part is not None:
            manifest |= {"part": self.part, "about": self.about or {}}
        return manifest

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
        manifest = _manifest_of(self.dir)
        if isinstance(manifest, dict) and manifest.get("part") != self.part:
            warning(f"embedding part {self.dir} was made for rows {manifest.get('part')}, not {self.part}; encoding it again.")
            return False
        try:
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
        self.shards = intact_shards(self.dir / "vectors.f32", shards, dim)
        if len(self.shards) < len(shards):
            warning(
                f"embedding store {self.dir}: {len(shards) - len(self.shards)} of {len(shards)} shards are damaged "
                "or cut short; encoding their texts again."
            )
            atomic_write_json(self.dir / "manifest.json", self._manifest())
        return True

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


def intact_shards(path: Path, shards: list[dict], dim: int | None) -> list[dict]:
    """The leading shards of the vectors file at `path` whose bytes are all present and match their CRC-32."""
    if not shards:
        return []
    row_bytes = 4 * (dim or 0)
    good: list[dict] = []
    try:
        with open(path, "rb") as f:
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
