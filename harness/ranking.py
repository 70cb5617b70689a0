"""The one ranking rule used everywhere: score descending, then doc id ascending."""

from __future__ import annotations

from collections.abc import Mapping

TIE_RULE = "score desc, doc id asc"


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids of one query's run in rank order (ties broken by doc id)."""
    return sorted(scores, key=lambda d: (-scores[d], d))


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """Doc id -> 1-based rank under `ranked`."""
    return {doc: i for i, doc in enumerate(ranked(scores), start=1)}


def top_k(scores: Mapping[str, float], k: int) -> dict[str, float]:
    """The first k documents of a query's run, as a run row."""
    return {d: scores[d] for d in ranked(scores)[:k]}
