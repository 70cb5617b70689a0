"""Memory of honouring BRIGHT's per-query `excluded_ids`, two ways, at BRIGHT LeetCode's size
(413,932 documents, 142 queries; mteb's descriptive statistics):

- mteb (`bright_v1_1_retrieval.py`): a candidate list per query of every document id but the
  excluded ones, handed to the reranking path;
- ifir-bench (`harness.exclusions`): the exclusion lists alone; the retriever returns top_k plus
  the longest list, and the excluded documents are dropped from its run.

Prints the bytes each representation allocates (tracemalloc, same run), and checks that both give
the same top 1000 on a random score matrix.
Run: python benchmarks/bright_exclusions.py
"""

from __future__ import annotations

import random
import time
import tracemalloc

import numpy as np

from harness.exclusions import exclusion_depth, without_excluded

N_DOCS, N_QUERIES, TOP_K = 413_932, 142, 1000


def measure(build):
    tracemalloc.start()
    t0 = time.perf_counter()
    value = build()
    seconds = time.perf_counter() - t0
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return value, size, seconds


def main() -> None:
    rng = random.Random(0)
    doc_ids = [f"doc{i}" for i in range(N_DOCS)]
    excluded = {f"q{q}": rng.sample(doc_ids, rng.randint(0, 40)) for q in range(N_QUERIES)}

    def mteb_lists():
        out = {}
        for qid, drop in excluded.items():
            drop = set(drop)
            out[qid] = [d for d in doc_ids if d not in drop] if drop else doc_ids
        return out

    candidates, mteb_bytes, mteb_s = measure(mteb_lists)
    exclusions, ours_bytes, ours_s = measure(lambda: {q: list(d) for q, d in excluded.items() if d})
    print(f"candidate lists (mteb):  {mteb_bytes / 2**20:9.1f} MiB  {mteb_s:6.2f} s")
    print(f"exclusion lists (ours):  {ours_bytes / 2**20:9.3f} MiB  {ours_s:6.2f} s")
    print(f"ratio: {mteb_bytes / max(ours_bytes, 1):,.0f}x")

    # Same documents: scores for 5 queries, top 1000 of the candidates vs top 1000+depth minus exclusions.
    depth = exclusion_depth(exclusions)
    row = {d: i for i, d in enumerate(doc_ids)}
    agree = 0
    for qid in list(excluded)[:5]:
        scores = np.random.default_rng(len(qid)).random(N_DOCS)
        cand = candidates[qid]
        theirs = sorted(cand, key=lambda d: -scores[row[d]])[:TOP_K]
        top = np.argsort(-scores)[: TOP_K + depth]
        run = without_excluded({qid: {doc_ids[i]: float(scores[i]) for i in top}}, exclusions, TOP_K)
        agree += list(run[qid]) == theirs
    print(f"identical top {TOP_K} on {agree}/5 queries")


if __name__ == "__main__":
    main()
