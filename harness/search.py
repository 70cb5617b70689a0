"""Exact dense search for any `Encoder`: texts deduplicated, cached, encoded once."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from harness.cache import EmbeddingCache, text_key
from harness.models.protocols import Encoder
from harness.progress import progress
from harness.types import Document, Run


class DenseSearch:
    """Adapts an `Encoder` to the `Retriever` and `Reranker` protocols."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        cache: EmbeddingCache | None = None,
        batch_size: int = 32,
        chunk_size: int = 4096,
        show_progress: bool = True,
    ):
        self.encoder = encoder
        self.meta = encoder.meta
        self.cache = cache
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.show_progress = show_progress
        self.timings = {"encode_s": 0.0, "search_s": 0.0, "texts_encoded": 0, "texts_cached": 0}

    def embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Embeddings for `texts` (row per text); each distinct text is looked up or encoded once."""
        t0 = time.perf_counter()
        keys = [text_key(kind, t) for t in texts]
        unique: dict[str, str] = dict(zip(keys, texts))
        found = self.cache.get_many(list(unique)) if self.cache else {}
        missing = [k for k in unique if k not in found]
        self.timings["texts_cached"] += len(unique) - len(missing)
        if missing:
            # Longest first, as sentence-transformers orders a batch; chunks make the work resumable.
            missing.sort(key=lambda k: -len(unique[k]))
            with progress(self.show_progress) as bar:
                job = bar.add_task(f"encoding {kind}s", total=len(missing))
                for start in range(0, len(missing), self.chunk_size):
                    chunk = missing[start : start + self.chunk_size]
                    emb = self.encoder.encode(
                        [unique[k] for k in chunk], kind=kind, batch_size=self.batch_size, show_progress=False
                    )
                    emb = np.asarray(emb, dtype=np.float32)
                    if self.cache:
                        self.cache.put_many(chunk, emb)
                    found.update(zip(chunk, emb))
                    bar.advance(job, len(chunk))
            self.timings["texts_encoded"] += len(missing)
        self.timings["encode_s"] += time.perf_counter() - t0
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _prepare(self, emb: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(emb)
        if self.meta.extra.get("similarity", "cosine") == "cosine":
            t = torch.nn.functional.normalize(t, dim=-1)
        return t

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, str], *, top_k: int) -> Run:
        doc_ids = list(corpus)
        d = self._prepare(self.embed([self.meta.format_doc(corpus[i]) for i in doc_ids], "document"))
        qids = list(queries)
        q = self._prepare(self.embed([queries[i] for i in qids], "query"))
        t0 = time.perf_counter()
        k = min(top_k, len(doc_ids))
        run: Run = {}
        for start in range(0, len(qids), 256):
            scores = q[start : start + 256] @ d.T
            values, idx = torch.topk(scores, k, dim=1)
            for row, qid in enumerate(qids[start : start + 256]):
                run[qid] = {doc_ids[j]: float(v) for j, v in zip(idx[row].tolist(), values[row].tolist())}
        self.timings["search_s"] += time.perf_counter() - t0
        return run

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, str], candidates: Mapping[str, Sequence[str]]
    ) -> Run:
        doc_ids = sorted({d for qid in queries for d in candidates[qid]})
        row = {d: i for i, d in enumerate(doc_ids)}
        d = self._prepare(self.embed([self.meta.format_doc(corpus[i]) for i in doc_ids], "document"))
        qids = list(queries)
        q = self._prepare(self.embed([queries[i] for i in qids], "query"))
        t0 = time.perf_counter()
        run: Run = {}
        for i, qid in enumerate(qids):
            cand = list(candidates[qid])
            scores = (d[[row[c] for c in cand]] @ q[i]).tolist()
            run[qid] = dict(zip(cand, scores))
        self.timings["search_s"] += time.perf_counter() - t0
        return run
