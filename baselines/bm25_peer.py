"""bm25s set up like Anserini (Lucene's BM25 variant, Lucene's English stopwords, Porter stemmer):
a pure-Python peer implementation that the Lucene baseline is checked against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from harness.types import Run

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
        run: Run = {}
        for qid, text in queries.items():
            scores = self.scores(text)
            top = scores.argsort()[::-1][:top_k]
            run[qid] = {self.ids[i]: float(scores[i]) for i in top if scores[i] > 0}
        return run

    def rerank(self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[str]]) -> Run:
        run: Run = {}
        for qid, docs in candidates.items():
            scores = self.scores(queries[qid])
            run[qid] = {d: float(scores[self.position[d]]) for d in docs}
        return run
