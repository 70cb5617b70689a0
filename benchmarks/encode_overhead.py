"""Harness overhead on SciFact with the bundled MiniLM: a bare SentenceTransformer.encode of the
same texts, the harness's first (uncached) run, and a second (cached) run. Prints figures.

    python benchmarks/encode_overhead.py [--data ../shared/data/scifact] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.data.local import load_local
from harness.models import load_model
from harness.runner import RunOptions, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    task = load_local(args.data)
    model = load_model("minilm")
    texts = [model.meta.format_doc(d) for d in task.corpus.values()]
    queries = [model.meta.format_query(q) for q in task.queries.values()]
    model.encode(texts[:64], kind="document", batch_size=args.batch_size)  # warm-up, as both paths get

    t0 = time.perf_counter()
    model.model.encode(texts, batch_size=args.batch_size)
    model.model.encode(queries, batch_size=args.batch_size)
    bare = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as cache:
        options = RunOptions(cache_dir=Path(cache), batch_size=args.batch_size, show_progress=False)
        t0 = time.perf_counter()
        first, _ = evaluate(model, task, options)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate(model, task, options)
        t_second = time.perf_counter() - t0

    print(f"texts: {len(texts)} documents + {len(queries)} queries, batch size {args.batch_size}")
    print(f"bare SentenceTransformer.encode : {bare:8.2f} s")
    print(f"harness, first run (uncached)   : {t_first:8.2f} s   ratio to bare {t_first / bare:.3f}x (target <= 1.10x)")
    print(f"harness, second run (cached)    : {t_second:8.2f} s   ratio to first {t_second / t_first:.3f} (target < 0.10)")
    print(f"nDCG@10 {first['metrics']['nDCG@10']:.4f}  R@100 {first['metrics']['R@100']:.4f}")


if __name__ == "__main__":
    main()
