"""Standard measures through ir_measures, on rank-derived runs.

Runs are handed to ir_measures as rank-derived scores with no ties, made by the project's one
ranking rule (`harness.ranking`: score desc, doc id desc, which is trec_eval's own rule), so every
measure and p-MRR see the same ranking.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import ir_measures

from harness.errors import IfirError
from harness.ranking import ranked
from harness.types import Qrels, Run


def parse_measures(names: Iterable[str]) -> list:
    """ir_measures measure objects from names like 'nDCG@10', 'AP@1000', 'R(rel=2)@100', each checked
    before any run is scored (`measure`)."""
    return [measure(name.strip()) for name in names]


_TRIAL_QRELS = {"q": {"a": 1, "b": 0}}
_TRIAL_RUN = {"q": {"a": 2.0, "b": 1.0, "c": 0.5}}


@functools.cache
def measure(name: str):
    """The ir_measures measure of `name`, computed once on a one-query example so that a measure its
    backend cannot compute fails here, in one sentence, before any work. A cutoff below 1 is refused
    before that: pytrec_eval aborts the whole process on `@0` (an assertion in C, not an exception)."""
    try:
        parsed = ir_measures.parse_measure(name)
    except (ValueError, NameError, SyntaxError, TypeError, KeyError) as e:
        raise IfirError(f"Unknown measure '{name}' (ir_measures names like nDCG@10, AP@1000, R@100, RR@10): {e}.") from None
    cutoff = parsed.params.get("cutoff")
    if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, int) or cutoff < 1):
        raise IfirError(f"Measure '{name}': the cutoff after '@' must be a whole number of at least 1, e.g. {parsed.NAME}@10.")
    try:
        ir_measures.calc_aggregate([parsed], _TRIAL_QRELS, _TRIAL_RUN)
    except Exception as e:  # the backends' own checks: AssertionError, TypeError, ZeroDivisionError, a failing subprocess
        raise IfirError(f"Measure '{name}' cannot be computed by its backend ({type(e).__name__}: {str(e).rstrip('.')}).") from None
    return parsed


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


def main_per_query(task, per_query: dict) -> dict[str, float]:
    """The per-query values of the task's main measure (p-MRR's are per base query)."""
    return per_query[task.main_measure]


def group_means(values: Mapping[str, float], groups: Mapping[str, str]) -> dict[str, dict]:
    """Mean of per-query `values` within each group of `groups` (key -> label): {label: {"n", "mean"}};
    keys without a value (not scored) are left out, labels sorted."""
    sums: dict[str, list[float]] = {}
    for key, label in groups.items():
        if key in values:
            sums.setdefault(label, []).append(values[key])
    return {label: {"n": len(v), "mean": sum(v) / len(v)} for label, v in sorted(sums.items())}
