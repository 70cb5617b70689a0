"""`--model bm25s`: bm25s set up like Anserini (`harness.lexical`: Lucene's BM25 variant, Lucene's
English stopwords, Porter stemmer; the same index is the peer the Lucene baseline is checked against), the fast
option beside exact Lucene (no Java; its tokenizer differs from Lucene's, so scores differ a little:
nDCG@10 0.6713 against Lucene's 0.6789 on SciFact, `benchmarks/bm25_vs_bm25s.py`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence

from harness.lexical import ANSERINI, Bm25sIndex
from harness.models.protocols import ModelMeta, query_texts
from harness.types import Document, Query, Run

class BM25s:
    """`--model bm25s[:k1=0.9,b=0.4]`: the fast BM25 option, labelled as not Lucene in every result.

    Same settings as `bm25` (flat title + text, Lucene's stopwords, Porter stemmer), computed by bm25s
    in memory; each corpus is indexed once per process.
    """

    @staticmethod
    def check_arg(arg: str) -> None:
        """Refuses bad settings (`check_spec`, before any model loads)."""
        from baselines.bm25 import parse_params

        parse_params(arg)

    def __init__(self, arg: str = ""):
        import bm25s

        from baselines.bm25 import FLAT, parse_params

        params = parse_params(arg)
        self.k1, self.b = params["k1"], params["b"]
        self._peers: dict[str, Bm25sIndex] = {}
        self.timings = {"index_s": 0.0, "search_s": 0.0}
        self.meta = ModelMeta(
            name="bm25s",
            revision=f"bm25s-{bm25s.__version__}_k1={self.k1:g}_b={self.b:g}_{ANSERINI.name}",
            kind="sparse",
            doc_template=FLAT,
            spec=f"bm25s:{arg}" if arg else "bm25s",
            extra={
                "k1": self.k1, "b": self.b, "exact_lucene": False,
                "analyzer": ANSERINI.description,
                "note": "fast approximation of Lucene BM25 (bm25); tokenizers differ, and ties at the top-k cut are not decided by doc id",
            },
        )  # fmt: skip

    def _peer(self, corpus: Mapping[str, Document]) -> Bm25sIndex:
        texts = {d: self.meta.format_doc(doc) for d, doc in corpus.items()}
        key = hashlib.sha256("\0".join(f"{d}\0{t}" for d, t in sorted(texts.items())).encode()).hexdigest()
        if key not in self._peers:
            t0 = time.perf_counter()
            self._peers[key] = Bm25sIndex(texts, k1=self.k1, b=self.b, analyzer=ANSERINI)
            self.timings["index_s"] += time.perf_counter() - t0
        return self._peers[key]

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], *, top_k: int) -> Run:
        queries = query_texts(self.meta, queries)
        peer = self._peer(corpus)
        t0 = time.perf_counter()
        run = peer.retrieve(queries, top_k=top_k)
        self.timings["search_s"] += time.perf_counter() - t0
        return run

    def rerank(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]) -> Run:
        return self._peer(corpus).rerank(query_texts(self.meta, queries), candidates)
