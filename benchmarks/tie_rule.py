"""How much the tie rule moves real numbers: Lucene BM25 on a task (default: the embedded FollowIR
sample; a BEIR folder works too, e.g. ../shared/data/scifact), scored with ties broken by doc id descending (mteb since #5136/#5241, pytrec_eval: the
harness's rule) and by doc id ascending (the harness's rule before), on the same run; with mteb's own
`calculate_pmrr` as a peer when mteb is installed.

    python benchmarks/tie_rule.py [--task sample] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse

from baselines.bm25 import BM25
from harness.metrics.scoring import score
from harness.search import produce_run
from harness.tasks import load_task


def untied(run: dict, order) -> dict:
    """The run as rank-derived scores with no ties, in the order `order(scores)` gives (so any rule
    then ranks it that way)."""
    return {q: {d: float(len(s) - i) for i, d in enumerate(order(s))} for q, s in run.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sample")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    task = load_task(args.task)
    run = produce_run(BM25(cache_dir=args.cache_dir), task)
    rows = sum(len(s) for s in run.values())
    zeros = sum(1 for s in run.values() for v in s.values() if v == 0.0)
    tied = sum(len(s) - len(set(s.values())) for s in run.values())
    print(f"{task.name}: {len(run)} queries, {rows} scored documents, {zeros} score exactly 0 ({100 * zeros / rows:.1f}%), "
          f"{tied} share a score with another document of their query")
    rules = {
        "doc id desc (mteb, pytrec_eval; now)": lambda s: sorted(s, key=lambda d: (s[d], d), reverse=True),
        "doc id asc (before)": lambda s: sorted(s, key=lambda d: (-s[d], d)),
    }
    figures = {}
    followir = task.kind == "instruction-reranking"
    for name, order in rules.items():
        metrics, _ = score(task, untied(run, order))
        figures[name] = metrics
        if followir:
            og, ch = metrics["og"], metrics["changed"]
            cells = ", ".join(f"{m} {og[m]:.4f} / {ch[m]:.4f}" for m in task.measures)
            print(f"  {name:<38} p-MRR x100 {100 * metrics['p-MRR']:+.2f}; og / changed: {cells}")
        else:
            print(f"  {name:<38} " + ", ".join(f"{m} {metrics[m]:.4f}" for m in task.measures))
    now, before = figures.values()
    if not followir:
        print("  difference (now - before): " + ", ".join(f"{m} {now[m] - before[m]:+.4f}" for m in task.measures))
        return
    print(f"  difference (now - before): p-MRR x100 {100 * (now['p-MRR'] - before['p-MRR']):+.2f}, "
          + ", ".join(f"{m} og {now['og'][m] - before['og'][m]:+.4f}" for m in task.measures))
    ours, _ = score(task, run)
    print(f"  the harness on the raw run:              p-MRR x100 {100 * ours['p-MRR']:+.2f}")
    try:
        from mteb._evaluators.retrieval_metrics import calculate_pmrr
    except ImportError:
        print("  (mteb not installed: no peer figure)")
        return
    og = {q: s for q, s in run.items() if q.endswith("-og")}
    changed = {q: s for q, s in run.items() if q.endswith("-changed")}
    print(f"  mteb calculate_pmrr on the raw run:      p-MRR x100 {100 * calculate_pmrr(og, changed, task.changed_docs):+.2f}")


if __name__ == "__main__":
    main()
