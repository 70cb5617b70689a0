"""p-MRR against mteb's own test cases (tests/test_evaluators/test_retrieval_metrics.py in mteb)
and hand-computed values from the formula in Weller et al. 2024."""

import pytest

from harness.metrics import evaluate_measures, p_mrr, rank_change_score
from harness.metrics.scoring import score
from harness.ranking import ranks
from harness.results import write_trec_run
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


# ---- ties: mteb's rule (PRs #5136, #5241 for issue #5092): score desc, then doc id DESCENDING, as
# pytrec_eval ranks. The cases below are mteb's own regression tests
# (tests/test_evaluators/test_evaluation_metrics.py) plus hand-computed ones on which the
# ascending rule and insertion order give other numbers, so each fails when the rule is wrong.


def test_mteb_p_mrr_tie_case_insertion_order():
    # mteb test_p_mrr_tiebreak_independent_of_insertion_order: identical tied runs must give 0
    # (insertion order moves doc "0" from rank 1 to rank 3: +0.667).
    tied = {"0": 0.5, "1": 0.5, "2": 0.5}
    assert p_mrr({"a": tied}, {"a": dict(reversed(tied.items()))}, {"a": ["0"]})[0] == 0.0


def test_p_mrr_tie_broken_by_doc_id_descending():
    # og: "a" and "b" tie at the top; doc id descending puts "b" first, so "a" is at rank 2 and
    # rises to rank 1 in the changed run: mteb's rank_score(2, 1) = (1/2)/(1/1) - 1 = -0.5.
    # (Doc id ascending would rank "a" first in both runs: 0.0.)
    og = {"q": {"a": 1.0, "b": 1.0, "c": 0.5}}
    changed = {"q": {"a": 1.0, "b": 0.9, "c": 0.5}}
    assert p_mrr(og, changed, {"q": ["a"]})[0] == -0.5
    assert ranks(og["q"]) == {"b": 1, "a": 2, "c": 3}


def test_constant_scorer_gets_zero_p_mrr_whatever_the_order():
    docs = [str(i) for i in range(10)]
    forward = {d: 0.0 for d in docs}
    backward = {d: 0.0 for d in reversed(docs)}
    value, per_query = p_mrr({"a": forward, "b": backward}, {"a": backward, "b": forward}, {"a": ["0", "9"], "b": ["3"]})
    assert value == 0.0 and per_query == {"a": 0.0, "b": 0.0}


def test_mteb_mrr_tie_cases_match_pytrec_eval():
    # mteb test_mrr_tiebreak_matches_pytrec_eval: the positive has the lowest doc id, so doc id
    # descending ranks it third: RR = 1/3, as pytrec_eval (the peer) computes on the raw run.
    import pytrec_eval

    qrels = {"q1": {"d_a": 1}}
    results = {"q1": {"d_a": 0.5, "d_x": 0.5, "d_y": 0.5}}
    peer = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(results)["q1"]["recip_rank"]
    ours = evaluate_measures(qrels, results, ["RR@10"])[0]["RR@10"]
    assert ours == peer == 1 / 3
    # mteb test_mrr_tiebreak_independent_of_insertion_order
    tied = {"d_pos": 0.5, "d_x": 0.5, "d_y": 0.5}
    forward = evaluate_measures({"q1": {"d_pos": 1}}, {"q1": tied}, ["RR@10"])[0]["RR@10"]
    backward = evaluate_measures({"q1": {"d_pos": 1}}, {"q1": dict(reversed(tied.items()))}, ["RR@10"])[0]["RR@10"]
    assert forward == backward == 1 / 3  # d_pos < d_x < d_y: rank 3


def test_written_trec_run_ranks_ties_as_scored(tmp_path):
    """The rank column of a written run follows the same rule, so trec_eval on the file agrees."""
    run = {"q": {"d1": 0.5, "d3": 0.5, "d2": 0.5, "d0": 0.9}}
    write_trec_run(tmp_path / "r.trec", run, tag="t")
    rows = [line.split() for line in (tmp_path / "r.trec").read_text().splitlines()]
    assert [(r[2], r[3]) for r in rows] == [("d0", "1"), ("d3", "2"), ("d2", "3"), ("d1", "4")]


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


def test_display_rule_by_hand():
    """The one display rule: p-MRR x100 with a sign and 2 decimals (never -0.00), others 4 decimals."""
    from harness.metrics.pmrr import scale, shown, shown_sd

    assert shown(0.0095, "p-MRR") == "+0.95" and shown(-0.06871, "p-MRR") == "-6.87"
    assert shown(-0.00001, "p-MRR") == "+0.00" and shown(None, "p-MRR") == ""
    assert shown(0.64512, "nDCG@10") == "0.6451" and shown(-0.01234, "nDCG@10", diff=True) == "-0.0123"
    assert shown_sd(0.0123, "p-MRR") == "±1.23" and shown_sd(0.0123, "MAP@1000") == "±0.0123"
    assert scale("p-MRR") == 100.0 and scale("nDCG@5") == 1.0
