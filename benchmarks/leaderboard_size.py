"""Size and build time of a leaderboard site of a hundred result files, with and without TREC runs.

    python benchmarks/leaderboard_size.py [--models 25] [--queries 300] [--depth 1000]

Writes `models` x 4 synthetic result files (the sample-like FollowIR task, SciFact-like and two
more general tasks of `queries` queries each, TREC runs of `depth` documents per query, the shape
`ifir-bench run` writes) into a temporary folder, builds the site twice (runs left out, then
`--with-runs`) and prints the site sizes, the run sizes and the build times. The numbers in the
files are random; only the sizes and times mean anything. Times vary with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from leaderboard.render import build_site


def write_results(root: Path, *, models: int, queries: int, depth: int) -> int:
    rng = random.Random(0)
    n = 0
    for m in range(models):
        for task, kind in (("sample", "instruction-reranking"), ("scifact", "retrieval"), ("nfcorpus", "retrieval"), ("fiqa", "retrieval")):
            folder = root / f"org__model-{m:02d}" / "main"
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "instruction-reranking":
                qids = [f"q{i:02d}" for i in range(12)]
                per_query = {"p-MRR": {q: rng.uniform(-0.2, 0.2) for q in qids},
                             "og": {m_: {f"{q}-og": rng.random() for q in qids} for m_ in ("AP@1000", "nDCG@5")},
                             "changed": {m_: {f"{q}-changed": rng.random() for q in qids} for m_ in ("AP@1000", "nDCG@5")}}
                measures, main, run_qids = ["AP@1000", "nDCG@5"], "p-MRR", [f"{q}-{p}" for q in qids for p in ("og", "changed")]
            else:
                qids = [str(1000 + i) for i in range(queries)]
                measures, main, run_qids = ["nDCG@10", "MAP@100", "Recall@100"], "nDCG@10", qids
                per_query = {m_: {q: rng.random() for q in qids} for m_ in measures}
            metrics = {k: ({m_: sum(x.values()) / len(x) for m_, x in v.items()} if k in ("og", "changed") else sum(v.values()) / len(v))
                       for k, v in per_query.items()}
            data = {"schema_version": 1, "task": {"name": task, "kind": kind, "source": f"mteb/{task}", "revision": "0" * 40,
                                                  "split": "test", "measures": measures, "main_measure": main,
                                                  "n_queries": len(run_qids), "n_documents": 5000},
                    "model": {"name": f"org/model-{m:02d}", "revision": "main", "kind": "dense", "extra": {}},
                    "metrics": metrics, "main_score": metrics[main], "per_query": per_query,
                    "provenance": {"command": f"ifir-bench run --model org/model-{m:02d} --tasks {task}", "created_at": "2026-11-20T10:00:00+00:00",
                                   "device": "cpu", "seconds": {"encode_queries": 1.0, "search": 0.5},
                                   "throughput": {"documents_per_s": 100.0, "queries_per_s": 200.0}},
                    "run_file": f"{task}.run.trec"}
            (folder / f"{task}.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
            lines = [f"{q} Q0 doc{rng.randrange(10**6)} {r} {1 - r / depth:.6f} org__model-{m:02d}\n" for q in run_qids for r in range(1, depth + 1)]
            (folder / f"{task}.run.trec").write_text("".join(lines), encoding="utf-8")
            n += 1
    return n


def size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=25)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--depth", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        n = write_results(root, models=args.models, queries=args.queries, depth=args.depth)
        runs = sum(p.stat().st_size for p in root.rglob("*.run.trec"))
        print(f"{n} result files from {args.models} models; TREC runs {runs / 1e6:.1f} MB as text")
        for with_runs in (False, True):
            out = Path(tmp) / f"site-{with_runs}"
            t0 = time.perf_counter()
            build_site(root, out, with_runs=with_runs)
            seconds = time.perf_counter() - t0
            index = (out / "index.html").stat().st_size
            print(f"site {'with gzipped runs' if with_runs else 'without runs   '}: {size(out) / 1e6:6.2f} MB "
                  f"(index.html {index / 1e6:.2f} MB), built in {seconds:.1f} s")


if __name__ == "__main__":
    main()
