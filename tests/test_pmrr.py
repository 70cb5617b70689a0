"""p-MRR against mteb's own test cases (tests/test_evaluators/test_retrieval_metrics.py in mteb)
and hand-computed values from the formula in Weller et al. 2024."""

import pytest

from harness.metrics import p_mrr, rank_change_score
from harness.runner import score
from harness.types import Document, Query, Task

OG = {"a": {"0": 1, "1": 2, "2": 3, "3": 4}}


def test_identical_runs_give_zero():
    assert p_mrr(OG, OG, {"a": ["0"]})[0] == 0.0


def test_mteb_reference_values():
    # mteb: changed run {"0": 4, ...} -> -0.75; the same pair flipped -> +0.75.
    changed = {"a": {"0": 4, "1": 1, "2": 2, "3": 3}}
    assert p_mrr(OG, changed, {"a": ["0"]})[0] == -0.75
    assert p_mrr(changed, OG, {"a": ["0"]})[0] == 0.75


def test_rank_one_to_two_is_one_half():
    # 1 - (1/2)/(1/1) = 0.5: the changed document moved down one place from the top.
    og = {"a": {"x": 2.0, "y": 1.0}}
    new = {"a": {"x": 1.0, "y": 2.0}}
    assert p_mrr(og, new, {"a": ["x"]})[0] == pytest.approx(0.5)
    assert rank_change_score(1, 2) == 0.5
    assert rank_change_score(2, 1) == -0.5
    assert rank_change_score(3, 3) == 0.0


def test_constant_scorer_gives_zero_whatever_the_insertion_order():
    tied = {"0": 0.5, "1": 0.5, "2": 0.5}
    reversed_tied = dict(reversed(tied.items()))
    assert p_mrr({"a": tied}, {"a": reversed_tied}, {"a": ["0", "2"]})[0] == 0.0


def test_missing_document_ranks_after_the_run():
    og = {"a": {"x": 3.0, "y": 2.0, "z": 1.0}}  # x at rank 1
    new = {"a": {"y": 2.0, "z": 1.0}}  # x absent: rank 3 (= 2 docs + 1)
    assert p_mrr(og, new, {"a": ["x"]})[0] == pytest.approx(1 - 1 / 3)


def test_averaged_over_docs_then_queries():
    og = {"a": {"x": 2.0, "y": 1.0}, "b": {"u": 2.0, "v": 1.0}}
    new = {"a": {"x": 1.0, "y": 2.0}, "b": {"u": 2.0, "v": 1.0}}
    # query a: docs x (1->2: +0.5) and y (2->1: -0.5) -> 0; query b: u (1->1) -> 0 ... make b non-zero:
    new["b"] = {"u": 1.0, "v": 2.0}  # u 1->2: +0.5
    value, per_query = p_mrr(og, new, {"a": ["x", "y"], "b": ["u"]})
    assert per_query == {"a": 0.0, "b": 0.5}
    assert value == pytest.approx(0.25)  # not (0.5 - 0.5 + 0.5) / 3


def test_task_scoring_splits_og_and_changed():
    corpus = {d: Document(d, d) for d in "xyz"}
    queries = {"q-og": Query("q-og", "t", "i"), "q-changed": Query("q-changed", "t", "j")}
    qrels = {"q-og": {"x": 1, "y": 1, "z": 0}, "q-changed": {"x": 0, "y": 1, "z": 0}}
    task = Task("t", "instruction-reranking", corpus, queries, qrels, ["nDCG@5"], "", "",
                candidates={q: list("xyz") for q in queries}, changed_docs={"q": ["x"]})
    run = {"q-og": {"x": 3, "y": 2, "z": 1}, "q-changed": {"y": 3, "z": 2, "x": 1}}
    metrics, per_query = score(task, run)
    assert metrics["p-MRR"] == pytest.approx(1 - 1 / 3)  # x: rank 1 -> 3
    assert metrics["og"]["nDCG@5"] == pytest.approx(1.0)  # og run against og qrels
    assert metrics["changed"]["nDCG@5"] == pytest.approx(1.0)  # changed run against changed qrels
    assert set(per_query) == {"p-MRR", "og", "changed"}
