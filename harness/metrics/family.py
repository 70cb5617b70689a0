"""Measures particular to one benchmark family, from per-query values of standard measures. No I/O.

- Robustness@k (InstructIR, Oh et al. 2024; kaistAI/InstructIR `eval/robust_eval.py`, mteb's
  `robustness_at_10`): for each base query the *minimum* nDCG@k over its instructions, averaged over
  base queries. A query id `<base>_<n>` belongs to base `<base>` (mteb's grouping).
- Paired accuracy (NevIR, Weller et al. 2023; mteb's `paired_accuracy`): a pair `<key>_q1` /
  `<key>_q2` counts only when both queries rank their own relevant document first (R@1 = 1).
- Direction accuracy (the dual-view probe, `dualview_trainer.experiment`): a pair `<key>_q1` (an
  instruction under which document P is relevant) / `<key>_q2` (its complement, under which N is)
  counts when the instruction moves the scores the way it says: s1(P) - s1(N) > s2(P) - s2(N). It
  asks whether the ranking *changes* in the right direction (FollowIR's question, on scores), where
  paired accuracy also asks that the change overturn the topical preference of both views.
- IFIR levels (Song et al. 2025; mteb's IFIR `task_specific_scores`): nDCG@20 averaged over the
  queries of each instruction level, a query's level being the first of `v1`, `v2`, `v3` in its id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.errors import IfirError
from harness.metrics.standard import evaluate_measures
from harness.registry import Registry
from harness.types import Run, Task

ROBUSTNESS = "Robustness@10"
PAIRED_ACCURACY = "paired-accuracy"
DIRECTION = "direction-accuracy"
IFIR_MEASURE = "nDCG@20"
LEVEL_TAGS = ("v1", "v2", "v3")


def base_of(qid: str) -> str:
    """`123_4` -> `123`: the base query (InstructIR) or pair (NevIR) of a query id, as mteb splits it."""
    return qid.split("_")[0]


def robustness(per_query: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """(mean over base queries of the minimum per-query value, per-base minimum)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for qid, value in per_query.items():
        groups[base_of(qid)].append(value)
    if not groups:
        raise ValueError("Robustness: no scored queries.")
    minima = {base: min(values) for base, values in groups.items()}
    return sum(minima.values()) / len(minima), minima


def paired_accuracy(recall_at_1: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """(share of pairs whose two queries both have R@1 = 1, 1/0 per pair)."""
    pairs = {base_of(q) for q in recall_at_1}
    per_pair: dict[str, float] = {}
    for key in sorted(pairs):
        q1, q2 = f"{key}_q1", f"{key}_q2"
        if q1 not in recall_at_1 or q2 not in recall_at_1:
            raise ValueError(f"Paired accuracy: pair '{key}' needs both '{q1}' and '{q2}'.")
        per_pair[key] = 1.0 if recall_at_1[q1] == 1 and recall_at_1[q2] == 1 else 0.0
    if not per_pair:
        raise ValueError("Paired accuracy: no scored pairs.")
    return sum(per_pair.values()) / len(per_pair), per_pair


def direction_accuracy(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]) -> tuple[float, dict[str, float]]:
    """(share of pairs whose score margin moves toward the relevant document of each view, 1/0 per
    pair); a tie counts as no move."""
    per_pair: dict[str, float] = {}
    for key in sorted({base_of(q) for q in qrels}):
        q1, q2 = f"{key}_q1", f"{key}_q2"
        if q1 not in qrels or q2 not in qrels:
            raise ValueError(f"Direction accuracy: pair '{key}' needs both '{q1}' and '{q2}'.")
        p = next(d for d, r in qrels[q1].items() if r > 0)
        n = next(d for d, r in qrels[q2].items() if r > 0)
        s1, s2 = run.get(q1, {}), run.get(q2, {})
        if not all(d in s for s in (s1, s2) for d in (p, n)):
            per_pair[key] = 0.0
            continue
        per_pair[key] = 1.0 if (s1[p] - s1[n]) - (s2[p] - s2[n]) > 0 else 0.0
    if not per_pair:
        raise ValueError("Direction accuracy: no scored pairs.")
    return sum(per_pair.values()) / len(per_pair), per_pair


def level_of(qid: str) -> int | None:
    """IFIR instruction level of a query id (1, 2, 3), or None when it names none."""
    for level, tag in enumerate(LEVEL_TAGS, start=1):
        if tag in qid:
            return level
    return None


def level_means(per_query: Mapping[str, float]) -> dict[int, float]:
    """Mean per-query value for each instruction level present."""
    groups: dict[int, list[float]] = defaultdict(list)
    for qid, value in per_query.items():
        level = level_of(qid)
        if level is not None:
            groups[level].append(value)
    return {level: sum(v) / len(v) for level, v in sorted(groups.items())}


def _per_query(task: Task, run: Run, per_query: dict, measure: str) -> dict[str, float]:
    """Per-query values of one standard measure: the ones already computed, else computed now."""
    if measure in per_query:
        return per_query[measure]
    return evaluate_measures(task.qrels, run, [measure])[1][measure]


def _instructir(task, run, per_query):
    value, minima = robustness(_per_query(task, run, per_query, "nDCG@10"))
    return {ROBUSTNESS: value}, {ROBUSTNESS: minima}


def _nevir(task, run, per_query):
    value, pairs = paired_accuracy(_per_query(task, run, per_query, "R@1"))
    return {PAIRED_ACCURACY: value}, {PAIRED_ACCURACY: pairs}


def _probe(task, run, per_query):
    value, pairs = direction_accuracy(task.qrels, run)
    paired, per_pair = paired_accuracy(_per_query(task, run, per_query, "R@1"))
    return {DIRECTION: value, PAIRED_ACCURACY: paired}, {DIRECTION: pairs, PAIRED_ACCURACY: per_pair}


def _ifir(task, run, per_query):
    means = level_means(_per_query(task, run, per_query, IFIR_MEASURE))
    return {f"{IFIR_MEASURE}/level-{level}": value for level, value in means.items()}, {}


@dataclass(frozen=True)
class Scorer:
    """A family's extra measures: `score(task, run, per_query)` -> (metrics, per-query values), and
    `main`, the score it adds that ranks models (None: it adds figures but ranks nothing)."""

    name: str
    main: str | None
    score: Callable[[Task, Run, dict], tuple[dict, dict]]


INSTRUCTIR = Scorer("instructir", ROBUSTNESS, _instructir)
NEVIR = Scorer("nevir", PAIRED_ACCURACY, _nevir)
IFIR = Scorer("ifir", None, _ifir)  # the levels rank nothing
PROBE = Scorer("probe", DIRECTION, _probe)
SCORERS: Registry[Scorer] = Registry("scorer")
"""Every scorer by the name a task (and its result's identity, and an `ifir_task.json`) records."""
SCORERS.register(INSTRUCTIR.name, INSTRUCTIR)
SCORERS.register(NEVIR.name, NEVIR)
SCORERS.register(IFIR.name, IFIR)
SCORERS.register(PROBE.name, PROBE)


def scorer_named(name: str, where: str) -> Scorer:
    """The scorer called `name`; an error naming `where` (a task or file) when there is none."""
    if name not in SCORERS:
        raise IfirError(f"{where}: unknown scorer '{name}' (known: {', '.join(SCORERS)}).{SCORERS.suggest(name)}")
    return SCORERS.get(name)


def family_scores(task: Task, run: Run, per_query: dict) -> tuple[dict, dict]:
    """(extra metrics, extra per-query values) of the task's scorer; empty when it has none."""
    if not task.scorer:
        return {}, {}
    return scorer_named(task.scorer, f"Task '{task.name}'").score(task, run, per_query)
