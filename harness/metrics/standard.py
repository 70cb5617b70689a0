"""Standard measures through ir_measures, on rank-derived runs.

Runs are handed to ir_measures as rank-derived scores with no ties, made by the project's one
ranking rule (`harness.ranking`: score desc, doc id desc, which is trec_eval's own rule), so every
measure and p-MRR see the same ranking.
"""

from __future__ import annotations

from collections.abc import Iterable

import ir_measures

from harness.errors import IfirError
from harness.ranking import ranked
from harness.types import Qrels, Run


def parse_measures(names: Iterable[str]) -> list:
    """ir_measures measure objects from names like 'nDCG@10', 'AP@1000', 'R(rel=2)@100'."""
    measures = []
    for name in names:
        try:
            measures.append(ir_measures.parse_measure(name.strip()))
        except (ValueError, NameError, SyntaxError, TypeError, KeyError) as e:
            raise IfirError(f"Unknown measure '{name}' (ir_measures names like nDCG@10, AP@1000, R@100, RR@10): {e}.") from None
    return measures


def _untied(run: Run) -> Run:
    out: Run = {}
    for qid, scores in run.items():
        order = ranked(scores)
        n = len(order)
        out[qid] = {doc: float(n - i) for i, doc in enumerate(order)}
    return out


def evaluate_measures(qrels: Qrels, run: Run, names: Iterable[str]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(aggregate per measure name, per-query values per measure name).

    Only queries that have judgements are scored (trec_eval's default); a judged query missing
    from the run scores 0 for every measure, so a retriever cannot gain by returning nothing.
    """
    names = list(names)
    measures = parse_measures(names)
    by_str = {str(m): name for m, name in zip(measures, names)}
    judged = {q: d for q, d in qrels.items() if d}
    scored_run = _untied({q: s for q, s in run.items() if q in judged})
    per_query: dict[str, dict[str, float]] = {name: {q: 0.0 for q in judged} for name in names}
    for metric in ir_measures.iter_calc(measures, judged, scored_run):
        per_query[by_str[str(metric.measure)]][metric.query_id] = float(metric.value)
    aggregate = {name: (sum(v.values()) / len(v) if v else 0.0) for name, v in per_query.items()}
    return aggregate, per_query
