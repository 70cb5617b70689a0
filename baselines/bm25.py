"""`--model bm25[:k1=0.9,b=0.4]`: Lucene BM25 through Anserini, as in its BEIR "flat" regressions.

Queries become bag-of-words queries of the analyzer's tokens (never Lucene query syntax), so quotes,
colons, parentheses or `AND`/`OR` in a query or instruction are plain words. Candidate reranking
(FollowIR) scores each candidate with the whole corpus's BM25 statistics.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from baselines.bm25_index import ANALYZER, LuceneIndex, fingerprint
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


def one_line(text: str) -> str:
    return " ".join(text.split())


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
        qids = list(queries)
        run: Run = {qid: {} for qid in qids}
        with tempfile.TemporaryDirectory(prefix="ifir-bm25-") as tmp:
            topics, output = Path(tmp, "topics.tsv"), Path(tmp, "run.trec")
            with open(topics, "w", encoding="utf-8") as f:
                f.writelines(f"{i}\t{one_line(queries[q])}\n" for i, q in enumerate(qids) if one_line(queries[q]))
            try:
                with console.status(f"BM25: searching {len(qids)} queries"):
                    java().SearchCollection.main([
                        "-index", str(index.dir), "-topics", str(topics), "-topicReader", "TsvString", "-output", str(output),
                        "-bm25", "-bm25.k1", str(self.k1), "-bm25.b", str(self.b), "-hits", str(top_k),
                        "-threads", str(self.threads), "-quiet",
                    ])  # fmt: skip
            except Exception as e:  # jnius.JavaException
                raise IfirError(f"Anserini could not search {index.dir} ({e}); delete that folder to rebuild it.") from None
            if not output.is_file():
                raise IfirError(f"Anserini wrote no run for index {index.dir}; delete that folder to rebuild it.")
            with open(output, encoding="utf-8") as f:
                for line in f:
                    qnum, _, lucene_id, _, score, _ = line.split()
                    run[qids[int(qnum)]][index.doc_id(lucene_id)] = float(score)
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
        searcher = j.SimpleSearcher(str(index.dir))
        searcher.set_bm25(self.k1, self.b)
        analyzer, generator = searcher.get_analyzer(), j.BagOfWords()
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
                    query.add(generator.buildQuery(FIELD, analyzer, queries[qid]), j.Occur.MUST)
                    query.add(j.TermInSetQuery(ID_FIELD, ids), j.Occur.FILTER)
                    hits = searcher.search(query.build(), max(len(docs), 1))
                    run[qid] = {d: 0.0 for d in docs} | {index.doc_id(h.docid): h.score for h in hits}
                    bar.advance(job)
        finally:
            searcher.close()
        self.timings["rerank_s"] += time.perf_counter() - t0
        return run
