"""`--model bm25[:k1=0.9,b=0.4]`: Lucene BM25 through Anserini, as in its BEIR "flat" regressions.

Queries become bag-of-words queries of the analyzer's tokens (never Lucene query syntax), so quotes,
colons, parentheses or `AND`/`OR` in a query or instruction are plain words. Candidate reranking
(FollowIR) scores each candidate with the whole corpus's BM25 statistics.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from baselines.bm25_index import ANALYZER, LuceneIndex, fingerprint, open_reader
from baselines.lucene import anserini_version, java
from harness.cache import default_cache_dir
from harness.errors import IfirError
from harness.progress import console, progress
from harness.models.protocols import ModelMeta, query_texts
from harness.types import Document, Query, Run

FLAT = "{title}\n{text}"
FIELD = "contents"  # Anserini's indexed text field
ID_FIELD = "id"


def parse_params(arg: str) -> dict[str, float]:
    """'k1=1.2,b=0.75' -> {'k1': 1.2, 'b': 0.75}; defaults are pyserini's 0.9 / 0.4."""
    params = {"k1": 0.9, "b": 0.4}
    for item in filter(None, (s.strip() for s in arg.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in params:
            raise IfirError(f"Bad BM25 parameter '{item}': use k1=FLOAT and/or b=FLOAT, e.g. bm25:k1=1.2,b=0.75.")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            raise IfirError(f"Bad BM25 parameter '{item}': '{value}' is not a number.") from None
    if not (0 <= params["k1"] < math.inf):
        raise IfirError(f"Bad BM25 parameter k1={params['k1']:g}: k1 is a finite number of at least 0 (Lucene's BM25Similarity), e.g. 0.9.")
    if not 0 <= params["b"] <= 1:
        raise IfirError(f"Bad BM25 parameter b={params['b']:g}: b is between 0 and 1 (Lucene's BM25Similarity), e.g. 0.4.")
    return params


def anserini_scores(scores: np.ndarray) -> list[float]:
    """The scores Anserini writes for hits in its order (score, then id): its ScoreTiesAdjusterReranker
    (round to 1e-4, then 1e-6 less for each further tie), as its run file prints them (6 decimals).
    They are strictly decreasing, so any later tie rule keeps Anserini's order. Checked entry for
    entry against SearchCollection's run file on SciFact (300 queries x 1000; benchmarks/bm25_speed.py).

    Anserini's rule runs hit by hit: a hit starts afresh (`dup` = 0) when it is more than 1e-4 below
    the previous rounded score and, if the previous hit was a tie, more than 1e-4 below that tie's
    lowered score. Here in float32 arrays: assume every gap over 1e-4 starts afresh, lower the ties,
    and re-check; the first hit where the assumption fails continues its run instead, and the check
    repeats from there (a few passes: only ties lowered by nearly 1e-4 can fail it)."""
    r = (np.floor(scores.astype(np.float64) * 1e4 + 0.5) / 1e4).astype(np.float32)
    n = len(r)
    position = np.arange(n)
    fresh = np.ones(n, dtype=bool)
    fresh[1:] = (r[:-1] - r[1:]) > np.float32(1e-4)
    while True:
        dup = position - np.maximum.accumulate(np.where(fresh, position, 0))
        out = np.where(dup > 0, r - np.float32(1e-6) * dup.astype(np.float32), r).astype(np.float32)
        wrong = fresh[1:] & (dup[:-1] > 0) & ~((out[:-1] - r[1:]) > np.float32(1e-4))
        if not wrong.any():
            return np.round(out.astype(np.float64), 6).tolist()
        fresh[int(np.argmax(wrong)) + 1] = False


class BagOfWordsSearch:
    """Anserini's BM25 search as its SearchCollection runs it (bag-of-words query of the analyzer's
    tokens, Lucene's BM25Similarity, top k by score then id, scores as `anserini_scores`), in this
    process. Queries go to Java in batches (`ifir.LuceneHits`, beside this package) and are searched
    there on `threads` Java threads; each batch's hits come back as one array of (Lucene document
    number, score), mapped to doc ids in bulk: no Java object per hit, no run file, and no Python
    work per hit, which were the cost of the old paths.
    """

    BATCH = 64  # queries per call into Java: progress moves between calls

    def __init__(self, index: LuceneIndex, k1: float, b: float, *, threads: int = 1):
        j = java()
        self.ids = np.array(index.ids, dtype=object)
        self.position = index.positions()
        self.threads = threads
        self.dir = index.dir
        self.reader = open_reader(index.dir)
        self.searcher = j.IndexSearcher(self.reader)
        self.searcher.setSimilarity(j.BM25Similarity(k1, b))
        analyzing = j.SimpleSearcher(str(index.dir))
        self.analyzer = analyzing.get_analyzer()
        analyzing.close()
        self.generator = j.BagOfWords()

    def query(self, text: str):
        """The bag-of-words Lucene query of a text."""
        return self.generator.buildQuery(FIELD, self.analyzer, text)

    def search(self, queries: Sequence, depths: Sequence[int]) -> list[dict[str, float]]:
        """Anserini's top depths[i] of each Lucene query (doc id -> score): Lucene's hits, fetched
        deeper in Java until no tie straddles the cut, ordered by score then id, scored as
        `anserini_scores`."""
        depths = [min(int(k), len(self.ids)) for k in depths]  # Lucene allocates a queue of the depth asked
        flat = np.asarray(java().LuceneHits.search(self.searcher, list(queries), depths, self.threads))
        bounds = flat[: len(queries) + 1].astype(np.int64)
        found = []
        for i, k in enumerate(depths):
            pairs = flat[bounds[i] : bounds[i + 1]].reshape(-1, 2)
            positions, scores = self.position[pairs[:, 0].astype(np.int64)], pairs[:, 1].astype(np.float32)
            order = np.lexsort((positions, -scores))[: max(k, 0)]
            found.append(dict(zip(self.ids[positions[order]].tolist(), anserini_scores(scores[order]))))
        return found

    def search_all(self, queries: Sequence, depths: Sequence[int], label: str) -> list[dict[str, float]]:
        """`search` in batches under a progress bar; a Java failure names the index folder."""
        from jnius import JavaException

        found: list[dict[str, float]] = []
        try:
            with progress() as bar:
                job = bar.add_task(label, total=len(queries))
                for first in range(0, len(queries), self.BATCH):
                    found += self.search(queries[first : first + self.BATCH], depths[first : first + self.BATCH])
                    bar.advance(job, min(self.BATCH, len(queries) - first))
        except JavaException as e:
            raise IfirError(f"Anserini could not search {self.dir} ({e}); delete that folder to rebuild it.") from None
        return found

    def close(self) -> None:
        self.reader.close()


class BM25:
    """A `Retriever` and `Reranker`; `timings["indexes_built"]` counts the indexes it built (0: all reused)."""

    check_arg = staticmethod(parse_params)  # `check_spec` refuses bad settings before any model loads

    def __init__(self, arg: str = "", *, cache_dir: Path | None = None, threads: int | None = None):
        params = parse_params(arg)
        self.k1, self.b = params["k1"], params["b"]
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.threads = threads or os.cpu_count() or 1
        self.timings = {"index_s": 0.0, "indexes_built": 0, "search_s": 0.0, "rerank_s": 0.0}
        self._indexes: dict[str, LuceneIndex] = {}
        version = anserini_version()
        self.meta = ModelMeta(
            name="bm25",
            revision=f"anserini-{version}_k1={self.k1:g}_b={self.b:g}_en-porter",
            kind="sparse",
            doc_template=FLAT,
            spec=f"bm25:{arg}" if arg else "bm25",
            extra={"k1": self.k1, "b": self.b, "analyzer": ANALYZER, "anserini": version, "query": "bag of words"},
        )

    def index(self, corpus: Mapping[str, Document]) -> LuceneIndex:
        """The corpus's index: reused from this object or the cache, else built."""
        texts = {doc_id: self.meta.format_doc(doc) for doc_id, doc in corpus.items()}
        key = fingerprint(texts)
        if key not in self._indexes:
            with console.status(f"BM25: opening or building the index of {len(texts)} documents"):
                index = self._indexes[key] = LuceneIndex(self.cache_dir / "bm25" / key, texts, threads=self.threads)
            self.timings["index_s"] += index.index_s
            self.timings["indexes_built"] += index.built
        return self._indexes[key]

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], *, top_k: int) -> Run:
        queries = query_texts(self.meta, queries)
        index = self.index(corpus)
        t0 = time.perf_counter()
        searcher = BagOfWordsSearch(index, self.k1, self.b, threads=self.threads)
        qids = list(queries)
        try:
            found = searcher.search_all([searcher.query(queries[q]) for q in qids], [top_k] * len(qids), "BM25: searching")
        finally:
            searcher.close()
        run: Run = dict(zip(qids, found))
        self.timings["search_s"] += time.perf_counter() - t0
        return run

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]
    ) -> Run:
        """BM25 scores of each query's candidates; candidates the query does not match score 0, below any match."""
        queries = query_texts(self.meta, queries)
        index = self.index(corpus)
        t0 = time.perf_counter()
        j = java()
        position = {doc_id: i for i, doc_id in enumerate(index.ids)}
        searcher = BagOfWordsSearch(index, self.k1, self.b, threads=self.threads)
        try:
            lucene_queries = []
            for qid, docs in candidates.items():
                missing = [d for d in docs if d not in position]
                if missing:
                    raise IfirError(f"Candidate '{missing[0]}' of query '{qid}' is not in the corpus.")
                ids = j.ArrayList()
                for d in docs:
                    ids.add(j.BytesRef(index.lucene_id(position[d]).encode()))
                query = j.BooleanQueryBuilder()
                query.add(searcher.query(queries[qid]), j.Occur.MUST)
                query.add(j.TermInSetQuery(ID_FIELD, ids), j.Occur.FILTER)
                lucene_queries.append(query.build())
            found = searcher.search_all(lucene_queries, [len(docs) for docs in candidates.values()], "BM25: scoring candidates")
        finally:
            searcher.close()
        run: Run = {qid: {d: 0.0 for d in docs} | hits for (qid, docs), hits in zip(candidates.items(), found)}
        self.timings["rerank_s"] += time.perf_counter() - t0
        return run
