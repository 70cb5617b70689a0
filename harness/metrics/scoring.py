"""A run's scores on a task: the task's measures and its family's scores, or FollowIR's og/changed split and p-MRR."""

from __future__ import annotations

from harness.metrics.family import family_scores
from harness.metrics.pmrr import p_mrr
from harness.metrics.standard import evaluate_measures
from harness.types import CHANGED, OG, Run, Task, base_query_id


def score(task: Task, run: Run) -> tuple[dict, dict]:
    """(metrics, per-query values). Pure: no I/O.

    FollowIR: p-MRR from the og and changed runs, and each run's measures against its own
    qrels (og run vs og qrels under "og", changed run vs changed qrels under "changed").
    """
    if task.kind != "instruction-reranking":
        metrics, per_query = evaluate_measures(task.qrels, run, task.measures)
        extra, extra_per_query = family_scores(task, run, per_query)
        return extra | metrics, extra_per_query | per_query
    og = {base_query_id(q): r for q, r in run.items() if q.endswith(OG)}
    changed = {base_query_id(q): r for q, r in run.items() if q.endswith(CHANGED)}
    pmrr, pmrr_per_query = p_mrr(og, changed, task.changed_docs or {})
    metrics, per_query = {"p-MRR": pmrr}, {"p-MRR": pmrr_per_query}
    for part, suffix in (("og", OG), ("changed", CHANGED)):
        qrels = {q: d for q, d in task.qrels.items() if q.endswith(suffix)}
        metrics[part], per_query[part] = evaluate_measures(qrels, {q: r for q, r in run.items() if q.endswith(suffix)}, task.measures)
    return metrics, per_query
