"""Matched training budgets (standard / diversity / dual-view) and a batch sampler that keeps
both views of a pair in one batch while allowing no duplicate text across pairs."""

from __future__ import annotations

import random

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

from harness.errors import IfirError
from harness.models.protocols import DEFAULT_QUERY_TEMPLATE, join_query

MIXES = ("standard", "diversity", "dual-view")


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
    if mix not in MIXES:
        raise IfirError(f"Unknown --mix '{mix}': use {', '.join(MIXES)}.")
    if budget < 2:
        raise IfirError("--budget must be at least 2.")
    if mix == "dual-view" and budget % 2 and not general_fraction:
        raise IfirError(f"--budget {budget} is odd: dual-view uses budget/2 pairs of two views.")
    own, general = split_budget(budget, mix, general_fraction)
    if own < (2 if mix == "dual-view" else 1):
        raise IfirError(f"training.general_fraction {general_fraction} leaves no {mix} rows at --budget {budget}.")
    return max(own // 2 if mix == "dual-view" else own, general)


def general_row(rec: dict, group: int) -> dict:
    """The record without an instruction: the query alone prefers the positive (plain retrieval data)."""
    return {"anchor": anchor(rec["query"], ""), "positive": rec["positive"], "negative": rec["negative"], "label": group}


def build_rows(records: list[dict], *, budget: int, mix: str, seed: int, general_fraction: float = 0.0) -> tuple[list[dict], dict]:
    """Exactly `budget` training rows from kept records, and their accounting.

    The kept records are put in one order drawn from `seed` and each mix takes from its front, so
    at one seed the mixes share their records as far as their budgets allow (dual-view's pairs are
    the first half of standard's records):

    - standard: `budget` records, original view only;
    - diversity: `budget` records of distinct queries, one view each (A or B at random);
    - dual-view: `budget/2` records, both views, sharing a group label (same batch).

    With `general_fraction` > 0 that share of the budget is instruction-free rows (query alone,
    positive, hard negative) of the first records of the same order, grouped with their record's
    views (the loss masks the shared documents), and the mix gets the rest (`split_budget`).
    """
    rng = random.Random(seed)
    chosen = select_records(records, budget=budget, mix=mix, rng=rng, general_fraction=general_fraction)
    own, n_general = split_budget(budget, mix, general_fraction)
    mine = chosen[: own // 2 if mix == "dual-view" else own]
    rows: list[dict] = []
    for g, rec in enumerate(mine):
        if mix == "standard":
            rows.append(view_a(rec, g))
        elif mix == "diversity":
            rows.append((view_b if rng.random() < 0.5 else view_a)(rec, g))
        else:
            rows += [view_a(rec, g), view_b(rec, g)]
    rows += [general_row(rec, g) for g, rec in enumerate(chosen[:n_general])]
    accounting = {
        "n_examples": len(rows),
        "n_pairs": len(mine) if mix == "dual-view" else 0,
        "n_queries": len({r["query"] for r in chosen}),
        "n_general": n_general,
    }
    return rows, accounting


def select_records(records: list[dict], *, budget: int, mix: str, rng: random.Random, general_fraction: float = 0.0) -> list[dict]:
    """The kept records a mix draws at a budget: the kept records in one order drawn from `rng`,
    then (diversity) one per query, then the first ones needed."""
    need = records_needed(budget, mix, general_fraction)
    kept = [r for r in records if r.get("kept")]
    rng.shuffle(kept)
    if mix == "diversity":
        seen, pool = set(), []
        for r in kept:
            if r["query"] not in seen:
                seen.add(r["query"])
                pool.append(r)
        kept = pool
    if len(kept) < need:
        what = "kept examples with distinct queries" if mix == "diversity" else "kept examples"
        raise IfirError(
            f"--budget {budget} with --mix {mix} needs {need} {what}, but only {len(kept)} are available: "
            "lower --budget, raise --max-candidates, use a stronger --llm, or turn the judge off with --no-judge."
        )
    return kept[:need]


class PairBatchSampler(DefaultBatchSampler):
    """Batches of whole groups (the rows sharing a `label`), groups shuffled per epoch.

    A group joins a batch only if none of its texts already appears there from another group
    (NO_DUPLICATES across groups); inside a group the two views share their documents by design,
    which the loss handles (see loss.py). Deterministic in (seed, epoch), so resuming skips the
    right batches."""

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed: int = 0):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns,
                         generator=generator, seed=seed)
        labels = dataset["label"]
        texts = [dataset[c] for c in dataset.column_names if c != "label"]
        self.groups: dict[int, list[int]] = {}
        for i, g in enumerate(labels):
            self.groups.setdefault(int(g), []).append(i)
        self.texts = {g: {t[i] for t in texts for i in idx} for g, idx in self.groups.items()}
        if max(len(v) for v in self.groups.values()) > batch_size:
            raise IfirError(f"batch size {batch_size} is smaller than a pair: use at least 2.")

    def batches(self) -> list[list[int]]:
        order = list(self.groups)
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        order = [order[i] for i in torch.randperm(len(order), generator=gen).tolist()]
        out: list[list[int]] = []
        pending = order
        while pending:
            batch, seen, later = [], set(), []
            for g in pending:
                rows = self.groups[g]
                if len(batch) + len(rows) > self.batch_size or seen & self.texts[g]:
                    later.append(g)
                    continue
                batch += rows
                seen |= self.texts[g]
            out.append(batch)
            pending = later
        if self.drop_last and out and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def __iter__(self):
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())
