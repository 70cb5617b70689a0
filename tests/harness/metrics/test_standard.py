"""Standard measures go through ir_measures; checked against hand computation and pytrec_eval."""

import math

import pytest
import pytrec_eval

from harness.metrics import evaluate_measures
from harness.errors import IfirError


def test_ndcg_and_ap_by_hand():
    qrels = {"q": {"a": 1, "b": 0, "c": 1}}
    run = {"q": {"a": 0.9, "b": 0.8, "c": 0.1}}
    agg, per_query = evaluate_measures(qrels, run, ["nDCG@10", "AP@1000", "RR@10", "R@2"])
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert agg["nDCG@10"] == pytest.approx(dcg / idcg)
    assert agg["AP@1000"] == pytest.approx((1 + 2 / 3) / 2)
    assert agg["RR@10"] == 1.0
    assert agg["R@2"] == 0.5
    assert per_query["nDCG@10"]["q"] == pytest.approx(dcg / idcg)


def test_matches_pytrec_eval_without_ties(shared_data):
    # A real run over SciFact qrels (scores made distinct): our wrapper equals pytrec_eval directly.
    from harness.data.local import read_qrels

    qrels = read_qrels(shared_data / "scifact" / "qrels" / "test.tsv")
    run = {q: {d: 1.0 / (i + 2) for i, d in enumerate(sorted(docs))} for q, docs in qrels.items()}
    agg, _ = evaluate_measures(qrels, run, ["nDCG@10"])
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"})
    ref = ev.evaluate(run)
    assert agg["nDCG@10"] == pytest.approx(sum(v["ndcg_cut_10"] for v in ref.values()) / len(ref))


def test_ties_broken_by_doc_id_ascending():
    qrels = {"q": {"b": 1}}
    run = {"q": {"a": 0.5, "b": 0.5, "c": 0.5}}  # trec_eval would put b at rank 2 (doc id descending: c, b, a)
    agg, _ = evaluate_measures(qrels, run, ["RR@10"])
    assert agg["RR@10"] == 0.5  # ours: a, b, c


def test_judged_query_missing_from_run_scores_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    agg, per_query = evaluate_measures(qrels, {"q1": {"a": 1.0}}, ["nDCG@10"])
    assert per_query["nDCG@10"] == {"q1": 1.0, "q2": 0.0}
    assert agg["nDCG@10"] == 0.5


def test_graded_binary_cut():
    qrels = {"q": {"a": 1, "b": 2}}
    run = {"q": {"a": 2.0, "b": 1.0}}
    agg, _ = evaluate_measures(qrels, run, ["RR(rel=2)@10", "RR@10"])
    assert agg["RR(rel=2)@10"] == 0.5 and agg["RR@10"] == 1.0


def test_unknown_measure_is_a_clear_error():
    with pytest.raises(IfirError, match="Unknown measure 'nDGC@10'"):
        evaluate_measures({"q": {"a": 1}}, {"q": {"a": 1.0}}, ["nDGC@10"])
