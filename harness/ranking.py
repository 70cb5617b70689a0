"""The one ranking rule used everywhere: score descending, then doc id descending.

This is pytrec_eval's (trec_eval's) rule, and mteb's since PRs #5136 and #5241 (issue #5092): a
tie never follows dict insertion order, so a constant scorer gets p-MRR 0 and no free MRR, and
p-MRR, the standard measures and the written TREC runs all rank the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

TIE_RULE = "score desc, doc id desc (pytrec_eval; mteb #5136, #5241)"


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids of one query's run in rank order (ties broken by doc id, descending)."""
    return sorted(scores, key=lambda d: (scores[d], d), reverse=True)


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """Doc id -> 1-based rank under `ranked`."""
    return {doc: i for i, doc in enumerate(ranked(scores), start=1)}


def top_k(scores: Mapping[str, float], k: int) -> dict[str, float]:
    """The first k documents of a query's run, as a run row."""
    return {d: scores[d] for d in ranked(scores)[:k]}
