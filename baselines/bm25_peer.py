"""bm25s set up like Anserini (Lucene's BM25 variant, Lucene's English stopwords, Porter stemmer):
a pure-Python peer that the Lucene baseline is checked against, and `--model bm25s`, the fast
option beside exact Lucene (no Java; its tokenizer differs from Lucene's, so scores differ a little:
nDCG@10 0.6713 against Lucene's 0.6789 on SciFact, `benchmarks/bm25_vs_bm25s.py`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence

import numpy as np

from harness.models.protocols import ModelMeta, query_texts
from harness.types import Document, Query, Run

# org.apache.lucene.analysis.en.EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, which Anserini's analyzer uses.
LUCENE_STOPWORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with"
).split()


class Bm25sPeer:
    """BM25 over `texts` (doc id -> text) with bm25s; `retrieve` and `rerank` return runs like `BM25`'s."""

    def __init__(self, texts: Mapping[str, str], *, k1: float = 0.9, b: float = 0.4):
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("porter")
        self.ids = list(texts)
        self.position = {d: i for i, d in enumerate(self.ids)}
        self.model = bm25s.BM25(k1=k1, b=b, method="lucene")
        self.model.index(self._tokens(list(texts.values())), show_progress=False)

    def _tokens(self, texts: list[str], **kw):
        return self._bm25s.tokenize(texts, stopwords=LUCENE_STOPWORDS, stemmer=self.stemmer, show_progress=False, **kw)

    def scores(self, query: str):
        """BM25 score of every document (in `ids` order) for one query."""
        tokens = self._tokens([query], return_ids=False)[0]
        return self.model.get_scores(tokens) if tokens else np.zeros(len(self.ids))

    def retrieve(self, queries: Mapping[str, str], *, top_k: int) -> Run:
        """Top `top_k` matching documents per query, in one batched bm25s call."""
        run: Run = {qid: {} for qid in queries}
        qids = [q for q in queries if self._tokens([queries[q]], return_ids=False)[0]]
        k = min(top_k, len(self.ids))
        if not qids or k <= 0:
            return run
        tokens = self._tokens([queries[q] for q in qids], return_ids=False)
        docs, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        for qid, row, values in zip(qids, docs.tolist(), scores.tolist()):
            run[qid] = {self.ids[d]: s for d, s in zip(row, values) if s > 0}
        return run

    def rerank(self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[str]]) -> Run:
        run: Run = {}
        for qid, docs in candidates.items():
            scores = self.scores(queries[qid])
            run[qid] = {d: float(scores[self.position[d]]) for d in docs}
        return run


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
        self._peers: dict[str, Bm25sPeer] = {}
        self.timings = {"index_s": 0.0, "search_s": 0.0}
        self.meta = ModelMeta(
            name="bm25s",
            revision=f"bm25s-{bm25s.__version__}_k1={self.k1:g}_b={self.b:g}_en-porter",
            kind="sparse",
            doc_template=FLAT,
            spec=f"bm25s:{arg}" if arg else "bm25s",
            extra={
                "k1": self.k1, "b": self.b, "exact_lucene": False,
                "analyzer": r"bm25s: lowercase \w\w+ tokens, Lucene English stopwords, Porter stemmer (PyStemmer)",
                "note": "fast approximation of Lucene BM25 (bm25); tokenizers differ, and ties at the top-k cut are not decided by doc id",
            },
        )  # fmt: skip

    def _peer(self, corpus: Mapping[str, Document]) -> Bm25sPeer:
        texts = {d: self.meta.format_doc(doc) for d, doc in corpus.items()}
        key = hashlib.sha256("\0".join(f"{d}\0{t}" for d, t in sorted(texts.items())).encode()).hexdigest()
        if key not in self._peers:
            t0 = time.perf_counter()
            self._peers[key] = Bm25sPeer(texts, k1=self.k1, b=self.b)
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
