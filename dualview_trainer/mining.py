"""Hard-negative mining over a corpus: BM25 (bm25s, Lucene-like settings) or a dense model
through the harness's DenseSearch."""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.errors import IfirError
from harness.types import Document, Run


class ContentTerms:
    """The content terms of a text as the miner's BM25 sees them: lower-cased words, English stop
    words left out, Snowball stems (what "shares terms with the query" means for a hard negative)."""

    def __init__(self):
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self.stem = Stemmer.Stemmer("english").stemWord
        self.stop = frozenset(STOPWORDS_EN)

    def of(self, text: str) -> set[str]:
        return {self.stem(w) for w in re.findall(r"\w\w+", text.lower()) if w not in self.stop}


def bm25_run(corpus: Mapping[str, Document], queries: Mapping[str, str], *, depth: int) -> Run:
    """k1=0.9, b=0.4 (Anserini's BEIR setting), bm25s's English stop words and the Snowball stemmer."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = list(corpus)
    retriever = bm25s.BM25(k1=0.9, b=0.4)
    texts = [f"{corpus[i].title}\n{corpus[i].text}" for i in ids]
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    qids = list(queries)
    q_tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
    docs, scores = retriever.retrieve(q_tokens, k=min(depth, len(ids)), show_progress=False, n_threads=1)
    return {q: {ids[int(d)]: float(s) for d, s in zip(docs[i], scores[i])} for i, q in enumerate(qids)}


def dense_run(corpus: Mapping[str, Document], queries: Mapping[str, str], *, depth: int, model: str) -> Run:
    from harness.models import load_model
    from harness.search import as_searcher

    searcher = as_searcher(load_model(model), show_progress=False)
    return searcher.retrieve(corpus, dict(queries), top_k=depth)


def mine(corpus: Mapping[str, Document], queries: Mapping[str, str], *, miner: str, model: str = "minilm", depth: int = 20) -> Run:
    if miner == "bm25":
        return bm25_run(corpus, queries, depth=depth)
    if miner == "dense":
        return dense_run(corpus, queries, depth=depth, model=model)
    raise IfirError(f"Unknown miner '{miner}': use bm25 or dense.")
