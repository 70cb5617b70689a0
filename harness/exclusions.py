"""Documents a task forbids per query (BRIGHT's `excluded_ids`; a query's own id where the
reference ignores identical ids), removed from a run the way the references do it.

BRIGHT scores every document, drops the excluded ones, then keeps the top 1000; here the
retriever is asked for `top_k` plus the longest exclusion list, the excluded documents are
dropped and the run cut to `top_k`: the same documents, through the ordinary bounded search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.ranking import top_k as first_k
from harness.types import Run


def exclusion_depth(excluded: Mapping[str, Sequence[str]] | None) -> int:
    """How many more documents to retrieve so that `top_k` remain after the exclusions."""
    return max((len(docs) for docs in (excluded or {}).values()), default=0)


def without_excluded(run: Run, excluded: Mapping[str, Sequence[str]] | None, top_k: int | None = None) -> Run:
    """`run` less each query's excluded documents, cut to `top_k` per query when given."""
    if not excluded:
        return run
    out: Run = {}
    for qid, scores in run.items():
        drop = set(excluded.get(qid, ()))
        kept = {d: s for d, s in scores.items() if d not in drop} if drop else dict(scores)
        out[qid] = first_k(kept, top_k) if top_k is not None else kept
    return out
