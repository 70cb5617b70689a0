"""Matched training budgets (standard / diversity / dual-view) and the rows of each view; pure
Python, so the CLI can name the mixes without importing torch (the batch sampler is in loss.py)."""

from __future__ import annotations

import random

from harness.errors import IfirError
from harness.models.protocols import DEFAULT_QUERY_TEMPLATE, join_query

MIXES = ("standard", "diversity", "dual-view")
SHUFFLED = "dual-view-shuffled"
"""The control of the complement: dual-view's records with view B's complements shuffled across
pairs, so that the instruction no longer belongs to its pair (a derangement under the seed)."""
CONTRAST = "dual-view-contrast"
"""The control of the data: dual-view drawn from a pool written by the `contrast` backend."""
CONTROLS = (SHUFFLED, CONTRAST)
ALL_MIXES = MIXES + CONTROLS
EXAMPLES_PER_QUERY = 4
"""How many examples of one query `standard` (and dual-view) take before moving to the next query."""


def anchor(query: str, instruction: str) -> str:
    """The query joined with its instruction by the harness's default template, as at evaluation."""
    return join_query(DEFAULT_QUERY_TEMPLATE, query, instruction)


def view_a(rec: dict, group: int) -> dict:
    return {"anchor": anchor(rec["query"], rec["instruction"]), "positive": rec["positive"], "negative": rec["negative"], "label": group}


def view_b(rec: dict, group: int) -> dict:
    """The complementary instruction: the former negative is the positive and vice versa."""
    return {"anchor": anchor(rec["query"], rec["complement"]), "positive": rec["negative"], "negative": rec["positive"], "label": group}


def split_budget(budget: int, mix: str, general_fraction: float = 0.0) -> tuple[int, int]:
    """(rows of the mix, instruction-free rows) at `budget`: `general_fraction` of every budget goes
    to instruction-free rows, the same share for every mix, so budgets stay matched (for dual-view
    the mix's share is rounded down to whole pairs)."""
    if not 0.0 <= general_fraction < 1.0:
        raise IfirError(f"training.general_fraction must be in [0, 1), not {general_fraction}.")
    general = round(budget * general_fraction)
    if mix == "dual-view" and (budget - general) % 2:
        general += 1
    return budget - general, general


def records_needed(budget: int, mix: str, general_fraction: float = 0.0) -> int:
    if mix not in ALL_MIXES:
        raise IfirError(f"Unknown --mix '{mix}': use {', '.join(MIXES)}.")
    if budget < 2:
        raise IfirError("--budget must be at least 2.")
    paired = mix not in ("standard", "diversity")
    if paired and budget % 2 and not general_fraction:
        raise IfirError(f"--budget {budget} is odd: dual-view uses budget/2 pairs of two views.")
    own, general = split_budget(budget, "dual-view" if paired else mix, general_fraction)
    if own < (2 if paired else 1):
        raise IfirError(f"training.general_fraction {general_fraction} leaves no {mix} rows at --budget {budget}.")
    return max(own // 2 if paired else own, general)


def general_row(rec: dict, group: int) -> dict:
    """The record without an instruction: the query alone prefers the positive (plain retrieval data)."""
    return {"anchor": anchor(rec["query"], ""), "positive": rec["positive"], "negative": rec["negative"], "label": group}


def query_key(rec: dict) -> str:
    return rec.get("query_id") or rec["query"]


def build_rows(records: list[dict], *, budget: int, mix: str, seed: int, general_fraction: float = 0.0) -> tuple[list[dict], dict]:
    """Exactly `budget` training rows from kept records, and their accounting.

    The queries are put in one order drawn from `seed`, and each query's records in one order too
    (`select_records`); at one seed the mixes share what their budgets allow:

    - standard: `budget` records, view A only, up to `EXAMPLES_PER_QUERY` of each query before the
      next query (few queries, several examples each: the natural shape of instruction data);
    - diversity: `budget` records of distinct queries (one each), view A only: as many queries as
      the budget has rows, the same view as standard;
    - dual-view: the first `budget/2` of standard's records, both views, sharing a group label
      (same batch);
    - dual-view-shuffled (control): dual-view's records with view B's complements shuffled among
      them; dual-view-contrast (control): dual-view from a pool the contrast backend wrote.

    With `general_fraction` > 0 that share of the budget is instruction-free rows (query alone,
    positive, hard negative) of the first records of the same order, grouped with their record's
    views (the loss masks the shared documents), and the mix gets the rest (`split_budget`).
    """
    rng = random.Random(seed)
    chosen = select_records(records, budget=budget, mix=mix, rng=rng, general_fraction=general_fraction)
    paired = mix not in ("standard", "diversity")
    own, n_general = split_budget(budget, "dual-view" if paired else mix, general_fraction)
    mine = chosen[: own // 2 if paired else own]
    complements = [r["complement"] for r in mine]
    if mix == SHUFFLED:
        complements = derangement(complements, rng)
    rows: list[dict] = []
    for g, rec in enumerate(mine):
        if paired:
            rows += [view_a(rec, g), view_b({**rec, "complement": complements[g]}, g)]
        else:
            rows.append(view_a(rec, g))
    rows += [general_row(rec, g) for g, rec in enumerate(chosen[:n_general])]
    accounting = {
        "n_examples": len(rows),
        "n_pairs": len(mine) if paired else 0,
        "n_queries": len({query_key(r) for r in chosen}),
        "n_general": n_general,
        "record_ids": sorted(r["id"] for r in chosen),
    }
    return rows, accounting


def derangement(items: list, rng: random.Random) -> list:
    """`items` reordered so that no item stays in its place (a random cyclic shift of a shuffle:
    every item moves, for any two or more items)."""
    if len(items) < 2:
        raise IfirError("Shuffling complements across pairs needs at least two pairs.")
    order = list(range(len(items)))
    rng.shuffle(order)
    out = list(items)
    for i, j in zip(order, order[1:] + order[:1]):
        out[i] = items[j]
    return out


def select_records(records: list[dict], *, budget: int, mix: str, rng: random.Random, general_fraction: float = 0.0) -> list[dict]:
    """The kept records a mix draws at a budget: queries in an order drawn from `rng`, each query's
    records in an order drawn from it; diversity takes one record per query, every other mix up to
    `EXAMPLES_PER_QUERY` per query, query after query; then the first ones needed."""
    need = records_needed(budget, mix, general_fraction)
    by_query: dict[str, list[dict]] = {}
    for r in records:
        if r.get("kept"):
            by_query.setdefault(query_key(r), []).append(r)
    queries = sorted(by_query)
    rng.shuffle(queries)
    per_query = 1 if mix == "diversity" else EXAMPLES_PER_QUERY
    kept = []
    for q in queries:
        group = sorted(by_query[q], key=lambda r: r["id"])
        rng.shuffle(group)
        kept += group[:per_query]
    if len(kept) < need:
        what = "kept examples with distinct queries" if mix == "diversity" else "kept examples"
        raise IfirError(
            f"--budget {budget} with --mix {mix} needs {need} {what}, but only {len(kept)} are available: "
            "lower --budget, raise --max-candidates, use a stronger --llm, or turn the judge off with --no-judge."
        )
    return kept[:need]
