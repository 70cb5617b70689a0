"""Robustness@10, paired accuracy and IFIR's level scores against hand computations and against the
reference formulas, ported below as peer implementations and run on the same runs."""

import math
import random
from collections import defaultdict

import pytest
import pytrec_eval

from harness.metrics import evaluate_measures
from harness.metrics.family import level_means, paired_accuracy, robustness
from harness.metrics.scoring import score
from harness.types import Document, Query, Task


def task_of(qrels, *, scorer, main=None, measures, texts=None):
    docs = {d for ds in qrels.values() for d in ds} | {f"x{i}" for i in range(30)}
    return Task(name="t", kind="retrieval", corpus={d: Document(d, d) for d in docs},
                queries={q: Query(q, (texts or {}).get(q, q)) for q in qrels}, qrels=qrels, measures=measures,
                source="", revision="", scorer=scorer, main=main)


def ranked_run(order: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """A run from rank lists (first = best), scores strictly decreasing: no ties for anyone to break."""
    return {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in order.items()}


# --- Robustness@10 -----------------------------------------------------------------------------

def test_robustness_by_hand():
    qrels = {"1_1": {"a": 1}, "1_2": {"b": 1}, "2_1": {"c": 1}, "2_2": {"c": 1, "d": 1}}
    run = ranked_run({"1_1": ["a", "x1"], "1_2": ["x1", "b"], "2_1": ["x1", "x2", "c"], "2_2": ["c", "d"]})
    task = task_of(qrels, scorer="instructir", main="Robustness@10", measures=["nDCG@10"])
    metrics, per_query = score(task, run)
    # nDCG@10 per query: 1, 1/log2(3), 1/log2(4) = 0.5, 1; base 1 keeps 1/log2(3), base 2 keeps 0.5
    assert per_query["Robustness@10"] == pytest.approx({"1": 1 / math.log2(3), "2": 0.5})
    assert metrics["Robustness@10"] == pytest.approx((1 / math.log2(3) + 0.5) / 2)
    assert metrics["nDCG@10"] == pytest.approx((1 + 1 / math.log2(3) + 0.5 + 1) / 4)
    assert task.main_measure == "Robustness@10"


def kaist_robustness(queries, qrels, results, k=10):
    """kaistAI/InstructIR eval/robust_eval.py, CustomEvaluateRetrieval.robustness_evaluate (commit
    4e6fb79), type='query': group instances by the query text after '[SEP]', pytrec_eval nDCG@k per
    instance, the minimum per group, averaged over groups ('cluster_NDCG@k_min_avg')."""
    group_per_query = defaultdict(dict)
    for qid, rels in results.items():
        instruction, query = queries[qid].split("[SEP]")
        group_per_query[query.strip()][qid] = rels
    minima = []
    for group_results in group_per_query.values():
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{k}"})
        scores = evaluator.evaluate(group_results)
        minima.append(min(scores[q][f"ndcg_cut_{k}"] for q in scores))
    return sum(minima) / len(minima)


def test_robustness_equals_instructir_reference_on_a_random_run():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(60)]
    qrels, texts, run = {}, {}, {}
    for b in range(25):
        for n in range(rng.randint(2, 6)):
            qid = f"{b}_{n}"
            qrels[qid] = {d: 1 for d in rng.sample(docs, rng.randint(1, 4))}
            texts[qid] = f"instruction {n} [SEP] base query {b}"
            run[qid] = {d: rng.random() for d in rng.sample(docs, 40)}
    ours, _ = robustness(evaluate_measures(qrels, run, ["nDCG@10"])[1]["nDCG@10"])
    assert ours == pytest.approx(kaist_robustness(texts, qrels, run), abs=1e-9)


# --- paired accuracy (NevIR) -------------------------------------------------------------------

def test_paired_accuracy_by_hand():
    qrels = {"0_q1": {"a": 1}, "0_q2": {"b": 1}, "1_q1": {"c": 1}, "1_q2": {"d": 1}, "2_q1": {"e": 1}, "2_q2": {"f": 1}}
    run = ranked_run({"0_q1": ["a", "b"], "0_q2": ["b", "a"],   # both right
                      "1_q1": ["c", "d"], "1_q2": ["c", "d"],   # one model preference: half right, pair wrong
                      "2_q1": ["f", "e"], "2_q2": ["e", "f"]})  # both wrong
    task = task_of(qrels, scorer="nevir", main="paired-accuracy", measures=["nDCG@10"])  # R@1 computed anyway
    metrics, per_query = score(task, run)
    assert metrics["paired-accuracy"] == pytest.approx(1 / 3)
    assert per_query["paired-accuracy"] == {"0": 1.0, "1": 0.0, "2": 0.0}


def test_constant_scorer_gets_no_paired_accuracy():
    """Ties are broken by doc id, so both queries of a pair put the same document first."""
    qrels = {f"{k}_q{n}": {f"{k}{'ab'[n - 1]}": 1} for k in range(5) for n in (1, 2)}
    run = {q: {f"{q[0]}a": 0.0, f"{q[0]}b": 0.0} for q in qrels}
    assert score(task_of(qrels, scorer="nevir", main="paired-accuracy", measures=["R@1"]), run)[0]["paired-accuracy"] == 0.0


def mteb_paired_accuracy(qrels, scores):
    """mteb `_evaluators/retrieval_metrics.py::paired_accuracy` (mteb a905523d): both queries of a
    key need pytrec_eval `recall_1` == 1."""
    keys = {k.split("_")[0] for k in qrels}
    paired = [1 if scores[f"{k}_q1"]["recall_1"] == 1 and scores[f"{k}_q2"]["recall_1"] == 1 else 0 for k in keys]
    return sum(paired) / len(paired)


def test_paired_accuracy_equals_mteb_on_a_random_run():
    rng = random.Random(3)
    qrels, run = {}, {}
    for k in range(200):
        a, b = f"p{k}a", f"p{k}b"
        for n, rel in ((1, a), (2, b)):
            qrels[f"{k}_q{n}"] = {rel: 1}
            run[f"{k}_q{n}"] = {a: rng.random(), b: rng.random()}
    scores = pytrec_eval.RelevanceEvaluator(qrels, {"recall.1"}).evaluate(run)
    ours, _ = paired_accuracy(evaluate_measures(qrels, run, ["R@1"])[1]["R@1"])
    assert ours == pytest.approx(mteb_paired_accuracy(qrels, scores))
    assert 0.1 < ours < 0.4  # a random scorer gets a pair right a quarter of the time


# --- IFIR --------------------------------------------------------------------------------------

def mteb_ifir_levels(scores):
    """mteb `IFIRAila.task_specific_scores` (mteb a905523d): pytrec_eval `ndcg_cut_20` averaged over
    query ids containing "v1", "v2", "v3" (first match)."""
    levels = {"level_1": [], "level_2": [], "level_3": []}
    for k, v in scores.items():
        if "v1" in k:
            levels["level_1"].append(v["ndcg_cut_20"])
        elif "v2" in k:
            levels["level_2"].append(v["ndcg_cut_20"])
        elif "v3" in k:
            levels["level_3"].append(v["ndcg_cut_20"])
    return {k: sum(v) / len(v) for k, v in levels.items()}


def ifir_ndcg(ids, gids):
    """IFIR's own nDCG (SighingSnow/IFIR src/utils/metrics.py, commit b97b203): the ideal DCG is
    built from the *retrieved* list's relevances, so relevant documents never retrieved cost nothing."""
    def dcg(scores):
        return sum(rel / math.log2(rank + 2) for rank, rel in enumerate(scores))
    rel = [1 if x in gids else 0 for x in ids]
    ideal = dcg(sorted(rel, reverse=True))
    return dcg(rel) / ideal if ideal > 0 else 0


def test_ifir_levels_by_hand_and_against_mteb():
    qrels = {"a_v1": {"r1": 1}, "b_v1": {"r1": 1}, "c_v2": {"r2": 1}, "d_v3": {"r3": 1}, "e": {"r1": 1}}
    run = ranked_run({"a_v1": ["r1"], "b_v1": ["x1", "r1"], "c_v2": ["x1", "x2", "r2"], "d_v3": ["x1"], "e": ["r1"]})
    metrics, _ = score(task_of(qrels, scorer="ifir", measures=["nDCG@20"]), run)
    assert metrics["nDCG@20/level-1"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert metrics["nDCG@20/level-2"] == pytest.approx(0.5)
    assert metrics["nDCG@20/level-3"] == 0.0
    assert metrics["nDCG@20"] == pytest.approx((1 + 1 / math.log2(3) + 0.5 + 0 + 1) / 5)  # "e" has no level

    rng = random.Random(11)
    docs = [f"d{i}" for i in range(80)]
    qrels = {f"q{i}_v{1 + i % 3}": {d: 1 for d in rng.sample(docs, rng.randint(1, 5))} for i in range(60)}
    run = {q: {d: rng.random() for d in rng.sample(docs, 50)} for q in qrels}
    ours = level_means(evaluate_measures(qrels, run, ["nDCG@20"])[1]["nDCG@20"])
    theirs = mteb_ifir_levels(pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.20"}).evaluate(run))
    assert [ours[n] for n in (1, 2, 3)] == pytest.approx([theirs[f"level_{n}"] for n in (1, 2, 3)])


def test_ifir_own_ndcg_differs_from_the_standard_one():
    """Three relevant documents, one retrieved at rank 1: IFIR's formula gives 1.0, the standard
    (ir_measures / trec_eval) nDCG@20 1 / (1 + 1/log2(3) + 1/log2(4)); we report the standard one."""
    qrels = {"q": {"a": 1, "b": 1, "c": 1}}
    run = ranked_run({"q": ["a", "x1", "x2"]})
    standard = evaluate_measures(qrels, run, ["nDCG@20"])[0]["nDCG@20"]
    assert standard == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))
    assert ifir_ndcg(["a", "x1", "x2"], ["a", "b", "c"]) == 1.0


def test_direction_accuracy_by_hand():
    """Pair a: under q1 P leads by 0.1, under q2 by 0.05: the margin moved toward N (counts).
    Pair b: margins 0.2 and 0.3: moved toward P under the complement (does not count). Pair c: the
    same margin under both (a tie: no move)."""
    from harness.metrics.family import direction_accuracy

    qrels = {f"{k}_q1": {f"{k}P": 1, f"{k}N": 0} for k in "abc"} | {f"{k}_q2": {f"{k}N": 1, f"{k}P": 0} for k in "abc"}
    run = {"a_q1": {"aP": 0.6, "aN": 0.5}, "a_q2": {"aP": 0.55, "aN": 0.5},
           "b_q1": {"bP": 0.7, "bN": 0.5}, "b_q2": {"bP": 0.8, "bN": 0.5},
           "c_q1": {"cP": 0.7, "cN": 0.5}, "c_q2": {"cP": 0.7, "cN": 0.5}}
    value, per_pair = direction_accuracy(qrels, run)
    assert per_pair == {"a": 1.0, "b": 0.0, "c": 0.0} and value == pytest.approx(1 / 3)
