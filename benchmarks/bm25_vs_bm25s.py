"""Lucene BM25 (ours, through Anserini) beside bm25s on the same data and settings; prints a table.

    python benchmarks/bm25_vs_bm25s.py [--data ../shared/data] [--cache-dir DIR]

Both: k1=0.9, b=0.4, flat text (title, newline, text), Lucene's English stopwords, Porter stemmer,
top 1000. They should agree to about 0.01 (tokenizers differ slightly; Lucene also rounds document
lengths). SciFact also has Anserini's published figures (beir-v1.0.0-scifact.flat).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from baselines.bm25 import BM25
from harness.lexical import Bm25sIndex
from harness.metrics import evaluate_measures
from harness.search import produce_run
from harness.tasks import load_task

REPO = Path(__file__).resolve().parent.parent
DATASETS = ["scifact", "msmarco-5k", "negconstraint"]
PUBLISHED = {"scifact": {"nDCG@10": 0.6789, "R@100": 0.9253}}
# msmarco-5k is graded 1..3; TREC DL counts grade 1 as not relevant for binary measures.
RECALL = {"msmarco-5k": "R(rel=2)@100"}


def compare(folder: Path, cache_dir: Path | None) -> dict:
    task = load_task(str(folder))
    measures = ["nDCG@10", RECALL.get(folder.name, "R@100")]
    model = BM25(cache_dir=cache_dir)
    queries = {q: model.meta.format_query(query) for q, query in task.queries.items()}
    ours = produce_run(model, task, top_k=1000)
    peer = Bm25sIndex({d: model.meta.format_doc(doc) for d, doc in task.corpus.items()}).retrieve(queries, top_k=1000)
    return {
        "measures": measures,
        "ours": evaluate_measures(task.qrels, ours, measures)[0],
        "bm25s": evaluate_measures(task.qrels, peer, measures)[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    print(f"{'dataset':<14} {'measure':<13} {'Lucene (ours)':>13} {'bm25s':>8} {'diff':>8} {'published':>10}")
    for name in DATASETS:
        row = compare(args.data / name, args.cache_dir)
        for m in row["measures"]:
            ours, peer = row["ours"][m], row["bm25s"][m]
            published = PUBLISHED.get(name, {}).get(m)
            ref = f"{published:.4f}" if published is not None else "-"
            print(f"{name:<14} {m:<13} {ours:>13.4f} {peer:>8.4f} {ours - peer:>+8.4f} {ref:>10}")


if __name__ == "__main__":
    main()
