"""Hard-negative mining over a corpus: BM25 (the bm25s index of `harness.lexical`) or a dense model
through the harness's DenseSearch."""

from __future__ import annotations

from collections.abc import Mapping

from harness.errors import IfirError
from harness.lexical import MINING, Bm25sIndex
from harness.types import Document, Run


class ContentTerms:
    """The content terms of a text as the miner's BM25 sees them (`harness.lexical.MINING`: lower-cased
    words, English stop words left out, Snowball stems): what "shares terms with the query" means for a
    hard negative."""

    def of(self, text: str) -> set[str]:
        return MINING.terms(text)


def bm25_run(corpus: Mapping[str, Document], queries: Mapping[str, str], *, depth: int) -> Run:
    """k1=0.9, b=0.4 (Anserini's BEIR setting), Lucene's BM25 variant, the `MINING` analyzer (bm25s's
    English stop words, Snowball stemmer; not Anserini's analyzer, which the `bm25s` model uses)."""
    texts = {i: f"{doc.title}\n{doc.text}" for i, doc in corpus.items()}
    return Bm25sIndex(texts, k1=0.9, b=0.4, analyzer=MINING).retrieve(queries, top_k=depth)


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
