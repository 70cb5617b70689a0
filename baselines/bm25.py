"""`--model bm25[:k1=0.9,b=0.4]`: Lucene BM25 through Anserini, as in its BEIR "flat" regressions.

Queries become bag-of-words queries of the analyzer's tokens (never Lucene query syntax), so quotes,
colons, parentheses or `AND`/`OR` in a query or instruction are plain words. Candidate reranking
(FollowIR) scores each candidate with the whole corpus's BM25 statistics.
"""

from __future__ import annotations

import os
import threading
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
    return params


def anserini_scores(scores: np.ndarray) -> list[float]:
    """The scores Anserini writes for hits in its order (score, then id): its ScoreTiesAdjusterReranker
    (round to 1e-4, then 1e-6 less for each further tie), as its run file prints them (6 decimals).
    They are strictly decreasing, so any later tie rule keeps Anserini's order. Checked entry for
    entry against SearchCollection's run file on SciFact (300 queries x 1000; benchmarks/bm25_speed.py)."""
    r = (np.floor(scores.astype(np.float64) * 1e4 + 0.5) / 1e4).astype(np.float32)
    apart = ((r[:-1] - r[1:]) > np.float32(1e-4)).tolist()  # a reset, unless a run of ties precedes
    out, prev, dup = r.tolist(), r[0] if len(r) else None, 0
    for i in range(1, len(r)):
        if apart[i - 1] and (dup == 0 or np.float32(prev - r[i]) > np.float32(1e-4)):
            dup, prev = 0, r[i]
            continue
        dup += 1
        prev = np.float32(r[i] - np.float32(np.float32(1e-6) * np.float32(dup)))
        out[i] = float(prev)
    return [round(v, 6) for v in out]


class BagOfWordsSearch:
    """Anserini's BM25 search as its SearchCollection runs it (bag-of-words query of the analyzer's
    tokens, Lucene's BM25Similarity, top k by score then id, scores as `anserini_scores`), in this
    process. Each query's hits cross from Java as one JSON string (Jackson, in the jar) of Lucene
    document numbers and scores, mapped to doc ids in bulk: no Java object per hit and no run file,
    which were the cost of the old path. Threads search at once: Lucene runs outside Python's lock.
    """

    def __init__(self, index: LuceneIndex, k1: float, b: float):
        j = java()
        self.ids = np.array(index.ids, dtype=object)
        self.position = index.positions()
        self.reader = open_reader(index.dir)
        self.searcher = j.IndexSearcher(self.reader)
        self.searcher.setSimilarity(j.BM25Similarity(k1, b))
        analyzing = j.SimpleSearcher(str(index.dir))
        self.analyzer = analyzing.get_analyzer()
        analyzing.close()
        self.generator, self.mapper = j.BagOfWords(), j.ObjectMapper()

    def hits(self, query, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in sorted doc-id order) and float32 scores of Lucene's top n, parsed from
        Jackson's JSON of TopDocs (`{"totalHits":...,"scoreDocs":[{"score":S,"doc":D,"shardIndex":-1},...]}`)."""
        text = self.mapper.writeValueAsString(self.searcher.search(query, n))
        body = text[text.index('"scoreDocs":[') + 13 : text.rindex("]")]
        if not body:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        flat = body.replace('{"score":', "").replace(',"doc":', ",").replace(',"shardIndex":-1}', "").split(",")
        values = np.array(flat, dtype=np.float64)
        return self.position[values[1::2].astype(np.int64)], values[0::2].astype(np.float32)

    def scored(self, query, n: int, k: int) -> dict[str, float]:
        """Anserini's top k of a query (doc id -> score): Lucene's hits re-fetched until no tie
        straddles the cut, ordered by score then id, scored as `anserini_scores`."""
        positions, scores = self.hits(query, n)
        while len(scores) == n and n > k and scores[-1] == scores[k - 1]:
            n *= 2
            positions, scores = self.hits(query, n)
        order = np.lexsort((positions, -scores))[:k]
        return dict(zip(self.ids[positions[order]].tolist(), anserini_scores(scores[order])))

    def top(self, text: str, k: int) -> dict[str, float]:
        """The top k documents of a query text."""
        if k <= 0:
            return {}
        return self.scored(self.generator.buildQuery(FIELD, self.analyzer, text), k + 1, k)

    def close(self) -> None:
        self.reader.close()


class BM25:
    """A `Retriever` and `Reranker`; `timings["indexes_built"]` counts the indexes it built (0: all reused)."""

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
        searcher = BagOfWordsSearch(index, self.k1, self.b)
        qids = list(queries)
        found: list[dict[str, float]] = [{} for _ in qids]
        errors: list[BaseException] = []

        def work(first: int) -> None:  # Lucene runs outside the GIL, so threads search in parallel
            from jnius import detach

            try:
                for i in range(first, len(qids), self.threads):
                    found[i] = searcher.top(queries[qids[i]], top_k)
                    bar.advance(job)
            except BaseException as e:  # noqa: BLE001  (re-raised in the calling thread)
                errors.append(e)
            finally:
                detach()

        try:
            with progress() as bar:
                job = bar.add_task("BM25: searching", total=len(qids))
                workers = [threading.Thread(target=work, args=(i,)) for i in range(min(self.threads, len(qids)))]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
        finally:
            searcher.close()
        if errors:
            from jnius import JavaException

            if isinstance(errors[0], JavaException):
                raise IfirError(f"Anserini could not search {index.dir} ({errors[0]}); delete that folder to rebuild it.") from None
            raise errors[0]
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
        searcher = BagOfWordsSearch(index, self.k1, self.b)
        run: Run = {}
        try:
            with progress() as bar:
                job = bar.add_task("BM25: scoring candidates", total=len(candidates))
                for qid, docs in candidates.items():
                    missing = [d for d in docs if d not in position]
                    if missing:
                        raise IfirError(f"Candidate '{missing[0]}' of query '{qid}' is not in the corpus.")
                    ids = j.ArrayList()
                    for d in docs:
                        ids.add(j.BytesRef(index.lucene_id(position[d]).encode()))
                    query = j.BooleanQueryBuilder()
                    query.add(searcher.generator.buildQuery(FIELD, searcher.analyzer, queries[qid]), j.Occur.MUST)
                    query.add(j.TermInSetQuery(ID_FIELD, ids), j.Occur.FILTER)
                    n = max(len(docs), 1)
                    run[qid] = {d: 0.0 for d in docs} | searcher.scored(query.build(), n, n)
                    bar.advance(job)
        finally:
            searcher.close()
        self.timings["rerank_s"] += time.perf_counter() - t0
        return run
