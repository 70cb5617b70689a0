"""p-MRR (Weller et al. 2024, FollowIR), as computed by mteb's `retrieval_metrics.py`.

For every document whose judgement changed (relevant under the original instruction, not under
the changed one), compare its rank in the original run with its rank in the changed run:
a drop in rank is rewarded, a rise penalised, scaled like reciprocal rank. Averaged over a
query's changed documents, then over queries. Ranks start at 1, a document missing from a run
is ranked just after that run's last document, and ties are broken by doc id descending as mteb's
`get_rank_from_dict` does since PR #5241 (`harness.ranking`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.ranking import ranks

NAME = "p-MRR"


def scale(measure: str) -> float:
    """The display rule, the one place it is written: p-MRR is stored as a fraction in [-1, 1] and
    shown x100 (as FollowIR's and mteb's tables show it); every other measure as stored."""
    return 100.0 if measure.endswith(NAME) else 1.0


def shown(value: float | None, measure: str, *, diff: bool = False) -> str:
    """A figure as tables show it: p-MRR x100 with a sign and 2 decimals, others with 4 decimals
    (a sign when `diff`); "" for None; never "-0.00"."""
    if value is None:
        return ""
    if scale(measure) != 1.0:
        return f"{round(scale(measure) * value, 2) + 0.0:+.2f}"
    return f"{round(value, 4) + 0.0:+.4f}" if diff else f"{value:.4f}"


def shown_sd(sd: float | None, measure: str) -> str:
    """A standard deviation as tables show it: "±" and the measure's scale and decimals."""
    if sd is None:
        return ""
    return f"±{scale(measure) * sd:.2f}" if scale(measure) != 1.0 else f"±{sd:.4f}"


def rank_change_score(og_rank: int, new_rank: int) -> float:
    """mteb's `rank_score`: in (-1, 1); positive when the document moved down."""
    if og_rank >= new_rank:
        return new_rank / og_rank - 1.0
    return 1.0 - og_rank / new_rank


def p_mrr(
    og_run: Mapping[str, Mapping[str, float]],
    changed_run: Mapping[str, Mapping[str, float]],
    changed_docs: Mapping[str, Sequence[str]],
) -> tuple[float, dict[str, float]]:
    """(p-MRR as a fraction in [-1, 1], per-query values).

    All three mappings are keyed by the base query id (no `-og` / `-changed` suffix). Queries
    with no changed documents, or missing from either run, are left out (as mteb does).
    """
    per_query: dict[str, float] = {}
    for qid, docs in changed_docs.items():
        if not docs or qid not in og_run or qid not in changed_run:
            continue
        og_ranks, new_ranks = ranks(og_run[qid]), ranks(changed_run[qid])
        og_missing, new_missing = len(og_ranks) + 1, len(new_ranks) + 1
        scores = [
            rank_change_score(og_ranks.get(doc, og_missing), new_ranks.get(doc, new_missing)) for doc in docs
        ]
        per_query[qid] = sum(scores) / len(scores)
    if not per_query:
        raise ValueError("p-MRR: no query has changed documents and appears in both runs.")
    return sum(per_query.values()) / len(per_query), per_query
