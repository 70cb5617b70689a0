"""Plugin models for the tests of what models return (`--model model_plugins:NAME`): a real,
weight-free encoder (hashed bag of words) and retrievers / rerankers, each wrong in one way."""

from __future__ import annotations

import zlib

import numpy as np

from harness.models import ModelMeta


def meta(model, **extra) -> ModelMeta:
    name = type(model).__name__
    return ModelMeta(name=name.lower(), revision="1", kind="plugin", spec=f"model_plugins:{name}", extra=extra)


class HashEncoder:
    """Each word adds 1 to one of 64 dimensions (crc32 of the lower-cased word); cosine similarity."""

    dim = 64

    def __init__(self):
        self.meta = meta(self)
        self.document_batches = 0

    def vectors(self, texts, dim=None):
        out = np.zeros((len(texts), dim or self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % out.shape[1]] += 1
        return out

    def encode(self, texts, *, kind, batch_size=32, show_progress=False):
        self.document_batches += kind == "document"
        return self.vectors(texts)


class NaNDocEncoder(HashEncoder):
    """One NaN document vector, the 6th of the second batch of documents."""

    def encode(self, texts, *, kind, batch_size=32, show_progress=False):
        out = super().encode(texts, kind=kind)
        if kind == "document" and self.document_batches == 2:
            out[5] = np.nan
        return out


class QueryDimEncoder(HashEncoder):
    """Query vectors of 32 dimensions, document vectors of 64."""

    def encode(self, texts, *, kind, batch_size=32, show_progress=False):
        return self.vectors(texts, 32 if kind == "query" else 64)


class StringEncoder(HashEncoder):
    def encode(self, texts, *, kind, batch_size=32, show_progress=False):
        return [["0.5"] * 4 for _ in texts]


def first_docs(corpus, n: int) -> dict[str, float]:
    """The first n doc ids in sorted order, scored n, n-1, ..., 1."""
    return {d: float(n - i) for i, d in enumerate(sorted(corpus)[:n])}


class FirstDocs:
    """Retrieves the 30 first documents by id for every query, whatever top_k it is asked."""

    def __init__(self):
        self.meta = meta(self)

    def retrieve(self, corpus, queries, *, top_k):
        return {q: first_docs(corpus, 30) for q in queries}


class NaNRetriever(FirstDocs):
    def retrieve(self, corpus, queries, *, top_k):
        return {q: first_docs(corpus, 3) | {sorted(corpus)[1]: float("nan")} for q in queries}


class ForeignRetriever(FirstDocs):
    def retrieve(self, corpus, queries, *, top_k):
        return {q: first_docs(corpus, 3) | {"not-a-document": 9.0} for q in queries}


class SilentRetriever(FirstDocs):
    """Returns nothing for the queries whose id ends in '-changed'."""

    def retrieve(self, corpus, queries, *, top_k):
        return {q: first_docs(corpus, 3) for q in queries if not q.endswith("-changed")}


class ScoreByPosition:
    """Scores each query's candidates by their position: the first highest."""

    def __init__(self):
        self.meta = meta(self)

    def scores(self, docs):
        return {d: float(len(docs) - i) for i, d in enumerate(docs)}

    def rerank(self, corpus, queries, candidates):
        return {q: self.scores(candidates[q]) for q in queries}


class NaNReranker(ScoreByPosition):
    def scores(self, docs):
        return {d: float("nan") for d in docs}


class PartialReranker(ScoreByPosition):
    def scores(self, docs):
        return super().scores(docs[:-1])


class IntruderReranker(ScoreByPosition):
    def scores(self, docs):
        return super().scores(docs) | {"d12-01": 99.0}


class StringReranker(ScoreByPosition):
    def scores(self, docs):
        return {d: str(s) for d, s in super().scores(docs).items()}


class ListReranker(ScoreByPosition):
    def scores(self, docs):
        return {d: [s] for d, s in super().scores(docs).items()}


class Broken:
    """A plugin whose constructor fails."""

    def __init__(self):
        raise RuntimeError("weights not found")
