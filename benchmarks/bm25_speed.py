"""BM25 index time and queries per second on SciFact (Lucene through Anserini, and bm25s beside it).

    python benchmarks/bm25_speed.py [--data ../shared/data] [--repeats 3]

The index is built in a fresh temporary cache. Search is top 1000 for SciFact's 300 test queries;
the first pass includes the JVM's warm-up (what a one-off `ifir-bench run` pays), later passes not.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from baselines.bm25 import BM25
from baselines.bm25_peer import Bm25sPeer
from baselines.lucene import java
from harness.tasks import load_task

REPO = Path(__file__).resolve().parent.parent


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    task = load_task(str(args.data / "scifact"))
    print(f"SciFact: {len(task.corpus)} documents, {len(task.queries)} queries, {os.cpu_count()} CPU cores")
    _, jvm_s = timed(java)
    print(f"JVM start (once per process): {jvm_s:.2f} s")
    with tempfile.TemporaryDirectory() as cache:
        model = BM25(cache_dir=Path(cache))
        queries = {q: model.meta.format_query(query) for q, query in task.queries.items()}
        _, index_s = timed(lambda: model.index(task.corpus))
        print(f"Lucene index build: {index_s:.2f} s ({len(task.corpus) / index_s:,.0f} docs/s)")
        for i in range(args.repeats):
            _, s = timed(lambda: model.retrieve(task.corpus, queries, top_k=1000))
            print(f"Lucene search, pass {i + 1}: {s:.2f} s, {len(queries) / s:,.1f} queries/s")
    texts = {d: model.meta.format_doc(doc) for d, doc in task.corpus.items()}
    peer, index_s = timed(lambda: Bm25sPeer(texts))
    print(f"bm25s index build: {index_s:.2f} s")
    _, s = timed(lambda: peer.retrieve(queries, top_k=1000))
    print(f"bm25s search: {s:.2f} s, {len(queries) / s:,.1f} queries/s")


if __name__ == "__main__":
    main()
