"""Lucene indexes of a corpus, built once by Anserini and kept under `<cache>/bm25/<fingerprint>/`.

The fingerprint covers the documents' ids and flat text and the analyzer, so any change makes a new
index. A build goes to a temporary folder renamed into place when complete: an interrupted build is
never reused, and an index that no longer opens is rebuilt. Lucene ids are zero-padded positions
in sorted doc-id order, so any doc id works and Lucene's id tie-break is our doc-id tie-break. Beside
the index, `ifir-docnums.npy` holds the position of each Lucene document number, so that search
hits come back as numbers, mapped to doc ids in bulk.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from baselines.lucene import anserini_version, java
from harness.console import warning
from harness.errors import IfirError
from harness.fileio import atomic_write_bytes, atomic_write_json

log = logging.getLogger(__name__)

ANALYZER = "en: Lucene StandardTokenizer, lowercase, Lucene English stopwords, Porter stemmer"
MANIFEST = "ifir-index.json"
DOCNUMS = "ifir-docnums.npy"


def fingerprint(texts: Mapping[str, str]) -> str:
    """sha256 of the sorted (doc id, text) pairs, the analyzer and the Anserini version."""
    h = hashlib.sha256(f"{ANALYZER}\0{anserini_version()}\0".encode())
    for doc_id in sorted(texts):
        h.update(f"{doc_id}\0{texts[doc_id]}\0".encode())
    return h.hexdigest()[:20]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class LuceneIndex:
    """One corpus's index: `ids` maps Lucene ids back to doc ids; `built` says whether this call built it."""

    def __init__(self, folder: Path, texts: Mapping[str, str], *, threads: int):
        self.ids = sorted(texts)
        self.width = len(str(max(len(self.ids) - 1, 0)))
        self.dir = Path(folder)
        self.built = False
        self.index_s = 0.0
        if not self._opens():
            if self.dir.exists():
                warning(f"BM25 index {self.dir} is damaged or incomplete; rebuilding it.")
                shutil.rmtree(self.dir)
            self._build(texts, threads)
        self._positions: np.ndarray | None = None

    def positions(self) -> np.ndarray:
        """Position (in sorted doc-id order) of each Lucene document number (`ifir-docnums.npy`,
        written if missing)."""
        if self._positions is None:
            try:
                positions = np.load(self.dir / DOCNUMS, allow_pickle=False)
                ok = positions.shape == (len(self.ids),) and np.array_equal(np.sort(positions), np.arange(len(self.ids)))
            except (OSError, ValueError):
                ok = False
            if not ok:  # an index built before this file existed, or a damaged file
                positions = _write_docnums(self.dir)
            self._positions = positions
        return self._positions

    def lucene_id(self, position: int) -> str:
        return str(position).zfill(self.width)

    def doc_id(self, lucene_id: str) -> str:
        return self.ids[int(lucene_id)]

    def _opens(self) -> bool:
        """Whether a complete index is here: the manifest agrees with what Lucene opens."""
        j = java()  # outside the try: a missing Java runtime is the user's error, not a damaged index
        try:
            manifest = json.loads((self.dir / MANIFEST).read_text())
            searcher = j.SimpleSearcher(str(self.dir))
        except Exception:  # missing, unreadable or corrupt: rebuild
            return False
        try:
            return searcher.get_total_num_docs() == manifest["indexed"]
        finally:
            searcher.close()

    def _write_collection(self, folder: Path, texts: Mapping[str, str], threads: int) -> int:
        """Anserini JsonCollection files, one per indexing thread; returns how many."""
        folder.mkdir(parents=True)
        shards = max(1, min(threads, len(self.ids)))
        size = -(-len(self.ids) // shards)
        for s in range(shards):
            with open(folder / f"docs-{s:03d}.jsonl", "w", encoding="utf-8") as f:
                for pos in range(s * size, min((s + 1) * size, len(self.ids))):
                    f.write(json.dumps({"id": self.lucene_id(pos), "contents": texts[self.ids[pos]]}) + "\n")
        return shards

    def _build(self, texts: Mapping[str, str], threads: int) -> None:
        t0 = time.perf_counter()
        parent = self.dir.parent
        for stale in parent.glob(f".building-{self.dir.name}-*"):
            pid = stale.name.rsplit("-", 1)[1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted build
        tmp = parent / f".building-{self.dir.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        j = java()
        try:
            shards = self._write_collection(tmp / "collection", texts, threads)
            try:
                j.IndexCollection.main([
                    "-collection", "JsonCollection", "-generator", "DefaultLuceneDocumentGenerator",
                    "-input", str(tmp / "collection"), "-index", str(tmp / "index"), "-threads", str(shards), "-quiet",
                ])  # fmt: skip
                searcher = j.SimpleSearcher(str(tmp / "index"))
            except Exception as e:  # jnius.JavaException
                raise IfirError(f"Anserini could not index the corpus into {tmp}: {e}") from None
            _write_docnums(tmp / "index")
            manifest = {"indexed": searcher.get_total_num_docs(), "documents": len(self.ids), "analyzer": ANALYZER, "anserini": anserini_version()}
            searcher.close()
            atomic_write_json(tmp / "index" / MANIFEST, manifest)
            try:
                os.rename(tmp / "index", self.dir)
            except OSError:
                if not self._opens():  # not another process's finished build of the same corpus
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.built = True
        self.index_s = time.perf_counter() - t0
        log.info("Built BM25 index %s (%d documents) in %.1f s.", self.dir, len(self.ids), self.index_s)


def open_reader(folder: Path):
    """A Lucene IndexReader on an index folder."""
    from jnius import cast

    j = java()
    reader = j.DirectoryReader.open(j.FSDirectory.open(j.File(str(folder)).toPath()))
    return cast("org.apache.lucene.index.IndexReader", reader)


def _write_docnums(folder: Path) -> np.ndarray:
    """Positions (the zero-padded Lucene ids) of each Lucene document number, saved beside the index."""
    reader = open_reader(folder)
    try:
        stored = reader.storedFields()
        positions = np.array([int(stored.document(n).get("id")) for n in range(reader.maxDoc())], dtype=np.int64)
    finally:
        reader.close()
    buf = io.BytesIO()
    np.save(buf, positions)
    atomic_write_bytes(folder / DOCNUMS, buf.getvalue())
    return positions
