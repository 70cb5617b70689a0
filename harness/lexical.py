"""The one bm25s set-up: an analyzer (tokens, stop words, stemmer) and an in-memory BM25 index.

Two analyzers are named here, and every bm25s index in the project is built from one of them:
`ANSERINI` (Lucene's English stop words, Porter stemmer: the `bm25s` model and the peer the Lucene
baseline is checked against) and `MINING` (bm25s's English stop words, Snowball stemmer: the
hard-negative miner and its "shares content terms with the query" check, so the check counts terms
as the miner matched them). The index uses Lucene's BM25 variant (`method="lucene"`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from harness.types import Run

# org.apache.lucene.analysis.en.EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, which Anserini's analyzer uses.
LUCENE_STOPWORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with"
).split()


@dataclass(frozen=True)
class Analyzer:
    """Lower-cased `\\w\\w+` tokens (bm25s's tokenizer), `stopwords` left out, PyStemmer's `stemmer`."""

    name: str
    stemmer: str
    stopwords: str | tuple[str, ...]
    """A bm25s stop-word list name ("en") or the words."""
    description: str

    @cached_property
    def _stem(self):
        import Stemmer

        return Stemmer.Stemmer(self.stemmer)

    @cached_property
    def stop_words(self) -> frozenset[str]:
        if isinstance(self.stopwords, str):
            from bm25s.stopwords import STOPWORDS_EN

            if self.stopwords != "en":
                raise ValueError(f"unknown bm25s stop-word list {self.stopwords!r}")
            return frozenset(STOPWORDS_EN)
        return frozenset(self.stopwords)

    def terms(self, text: str) -> set[str]:
        """The content terms of `text` as an index with this analyzer sees them."""
        return {self._stem.stemWord(w) for w in re.findall(r"\w\w+", text.lower()) if w not in self.stop_words}

    def tokenize(self, texts: list[str], **kw):
        import bm25s

        return bm25s.tokenize(texts, stopwords=list(self.stop_words), stemmer=self._stem, show_progress=False, **kw)


ANSERINI = Analyzer("en-porter", "porter", tuple(LUCENE_STOPWORDS),
                    r"bm25s: lowercase \w\w+ tokens, Lucene English stopwords, Porter stemmer (PyStemmer)")
MINING = Analyzer("en-snowball", "english", "en", r"bm25s: lowercase \w\w+ tokens, bm25s English stopwords, Snowball stemmer (PyStemmer)")


class Bm25sIndex:
    """BM25 over `texts` (doc id -> text) with bm25s; `retrieve` and `rerank` return runs (documents
    that share no term with the query are left out)."""

    def __init__(self, texts: Mapping[str, str], *, k1: float = 0.9, b: float = 0.4, analyzer: Analyzer = ANSERINI):
        import bm25s

        self.analyzer = analyzer
        self.ids = list(texts)
        self.position = {d: i for i, d in enumerate(self.ids)}
        self.model = bm25s.BM25(k1=k1, b=b, method="lucene")
        self.model.index(analyzer.tokenize(list(texts.values())), show_progress=False)

    def scores(self, query: str):
        """BM25 score of every document (in `ids` order) for one query."""
        tokens = self.analyzer.tokenize([query], return_ids=False)[0]
        return self.model.get_scores(tokens) if tokens else np.zeros(len(self.ids))

    def retrieve(self, queries: Mapping[str, str], *, top_k: int) -> Run:
        """Top `top_k` matching documents per query, in one batched bm25s call."""
        run: Run = {qid: {} for qid in queries}
        tokenized = self.analyzer.tokenize(list(queries.values()), return_ids=False) if queries else []
        kept = [(q, t) for q, t in zip(queries, tokenized) if t]  # a query of stop words alone matches nothing
        k = min(top_k, len(self.ids))
        if not kept or k <= 0:
            return run
        qids, tokens = [q for q, _ in kept], [t for _, t in kept]
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
