"""BM25 speed on SciFact (300 test queries, top 1000): index build, then search through the harness
(Lucene in-process, hits as arrays) beside the path it replaced (Anserini's SearchCollection writing
a run file that is read back) and bm25s, in the same process, with the JVM started.

    python benchmarks/bm25_speed.py [--data ../shared/data] [--repeats 3] [--threads N]

Passes alternate between the paths, so machine load hits both alike; the first pass of each
includes Java's warm-up (what a one-off `ifir-bench run` pays). Wall and CPU seconds are printed:
on a shared machine the CPU figure is the steadier one. Both Lucene paths must give the same ranks.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from baselines.bm25 import BM25
from harness.lexical import Bm25sIndex
from baselines.lucene import java
from harness.metrics import evaluate_measures
from harness.ranking import ranked
from harness.tasks import load_task

REPO = Path(__file__).resolve().parent.parent


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def search_collection(model: BM25, corpus, queries: dict, top_k: int, threads: int) -> dict:
    """The previous path: SearchCollection over a topics file, its run file parsed back."""
    from jnius import autoclass

    index = model.index(corpus)
    qids = list(queries)
    run = {q: {} for q in qids}
    with tempfile.TemporaryDirectory() as tmp:
        topics, output = Path(tmp, "topics.tsv"), Path(tmp, "run.trec")
        topics.write_text("".join(f"{i}\t{' '.join(queries[q].split())}\n" for i, q in enumerate(qids)), encoding="utf-8")
        autoclass("io.anserini.search.SearchCollection").main([
            "-index", str(index.dir), "-topics", str(topics), "-topicReader", "TsvString", "-output", str(output),
            "-bm25", "-bm25.k1", str(model.k1), "-bm25.b", str(model.b), "-hits", str(top_k), "-threads", str(threads), "-quiet",
        ])  # fmt: skip
        for line in output.read_text(encoding="utf-8").splitlines():
            qnum, _, lucene_id, _, score, _ = line.split()
            run[qids[int(qnum)]][index.doc_id(lucene_id)] = float(score)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    task = load_task(str(args.data / "scifact"))
    print(f"SciFact: {len(task.corpus)} documents, {len(task.queries)} queries, top 1000, {args.threads} threads, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    _, jvm_s, _ = timed(java)
    print(f"JVM start (once per process): {jvm_s:.2f} s")
    n = len(task.queries)
    with tempfile.TemporaryDirectory() as cache:
        model = BM25(cache_dir=Path(cache), threads=args.threads)
        queries = {q: model.meta.format_query(query) for q, query in task.queries.items()}
        _, index_s, _ = timed(lambda: model.index(task.corpus))
        print(f"Lucene index build: {index_s:.2f} s ({len(task.corpus) / index_s:,.0f} docs/s)")
        best = {"harness": (1e9, 1e9), "SearchCollection": (1e9, 1e9)}
        for i in range(args.repeats):
            new, wall, cpu = timed(lambda: model.retrieve(task.corpus, queries, top_k=1000))
            print(f"pass {i + 1}  harness (in-process)        : {wall:6.2f} s wall {n / wall:7.1f} q/s | {cpu:6.2f} s CPU")
            best["harness"] = min(best["harness"], (wall, cpu))
            old, wall, cpu = timed(lambda: search_collection(model, task.corpus, queries, 1000, args.threads))
            print(f"pass {i + 1}  SearchCollection + run file : {wall:6.2f} s wall {n / wall:7.1f} q/s | {cpu:6.2f} s CPU")
            best["SearchCollection"] = min(best["SearchCollection"], (wall, cpu))
        same = sum(new[q] == old[q] and ranked(new[q]) == ranked(old[q]) for q in queries)
        (hw, hc), (ow, oc) = best["harness"], best["SearchCollection"]
        print(f"best of {args.repeats}: harness {n / hw:,.1f} q/s, SearchCollection {n / ow:,.1f} q/s: "
              f"{ow / hw:.2f}x wall, {oc / hc:.2f}x CPU")  # fmt: skip
        print(f"queries whose run (doc ids, scores, ranks) equals SearchCollection's run file: {same} of {n}")
        print(f"nDCG@10 harness {evaluate_measures(task.qrels, new, ['nDCG@10'])[0]['nDCG@10']:.4f}, "
              f"SearchCollection {evaluate_measures(task.qrels, old, ['nDCG@10'])[0]['nDCG@10']:.4f}")  # fmt: skip
    texts = {d: model.meta.format_doc(doc) for d, doc in task.corpus.items()}
    peer, index_s, _ = timed(lambda: Bm25sIndex(texts))
    print(f"bm25s index build: {index_s:.2f} s")
    _, wall, cpu = timed(lambda: peer.retrieve(queries, top_k=1000))
    print(f"bm25s search: {wall:.2f} s wall, {n / wall:,.1f} q/s | {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
