"""Task families are declared once (harness.families): checked when declared, and everything that
speaks of families (task specs, `ifir-bench tasks`, local folders, the leaderboard) reads them there."""

from __future__ import annotations

import json

import pytest

from harness.errors import IfirError
from harness.families import FAMILIES, GENERAL, INSTRUCTION_FOLLOWING, Family, _registry
from harness.metrics.family import NEVIR
from harness.metrics.scoring import score
from harness.tasks import REGISTRY, TaskSpec, load_task, task_listing


def test_a_family_is_checked_when_declared():
    with pytest.raises(ValueError, match="lower-case"):
        Family("Bad Id", "x", "nDCG@10", "", "ref", instruction_following=False)
    with pytest.raises(ValueError, match="'reference' must be a non-empty string"):
        Family("x", "X", "nDCG@10", "", "", instruction_following=False)
    with pytest.raises(ValueError, match="ranks by 'paired-accuracy', not its main 'nDCG@10'"):
        Family("x", "X", "nDCG@10", "", "ref", instruction_following=True, scorer=NEVIR)
    one = Family("x", "X", "nDCG@10", "", "ref", instruction_following=False)
    with pytest.raises(ValueError, match="declared twice"):
        _registry(one, one)
    with pytest.raises(IfirError, match="task 'mine': unknown family 'nope'"):
        TaskSpec("mine", "me/mine", None, family="nope")


def test_every_reader_takes_the_family_from_its_record():
    """The published families (mteb's task metadata and the papers behind them): six test instruction
    following, BEIR and local folders are general retrieval; each registered task's main score is
    its family's unless the task names another (BRIGHT -long: R@1, as mteb)."""
    assert INSTRUCTION_FOLLOWING == ("followir", "mfollowir", "instructir", "ifir", "bright", "nevir")
    assert GENERAL == ("beir", "local")
    assert {n: s.main_score for n, s in REGISTRY.items() if s.main_score} == {
        "instructir": "Robustness@10", "nevir": "paired-accuracy",
        **{n: "R@1" for n in REGISTRY if n.startswith("bright-") and n.endswith("-long")}}
    assert {n for n, s in REGISTRY.items() if s.scorer == "ifir"} == {"ifir-aila", "ifir-fiqa", "ifir-pm", "ifir-scifact-open"}
    text = "\n".join(task_listing())
    for f in {s.family for s in REGISTRY.values()}:
        assert f"{f}: main score {FAMILIES[f].main}" in text


def test_adding_a_family_is_one_record(tmp_path, monkeypatch):
    """A family declared only in FAMILIES: a local folder that names it gets its scorer and main score,
    and the score is the one a hand count gives (NevIR's paired accuracy: a pair counts when both of
    its queries rank their own document first)."""
    monkeypatch.setitem(FAMILIES, "toy", Family("toy", "Toy pairs", "paired-accuracy", "R@1", "a hand-made pair set",
                                                instruction_following=True, scorer=NEVIR))
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    docs = {"d1": "cats purr", "d2": "dogs bark", "d3": "birds sing", "d4": "fish swim"}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in docs.items()))
    queries = {"a_q1": ("d1",), "a_q2": ("d2",), "b_q1": ("d3",), "b_q2": ("d4",)}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": q}) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text("".join(f"{q}\t{d}\t1\n" for q, (d,) in queries.items()))
    (folder / "ifir_task.json").write_text(json.dumps({"source": "hand-made", "revision": "1", "family": "toy",
                                                       "measures": ["R@1"]}))
    task = load_task(str(folder))
    assert (task.family, task.scorer, task.main_measure) == ("toy", "nevir", "paired-accuracy")
    run = {"a_q1": {"d1": 2.0, "d2": 1.0}, "a_q2": {"d2": 2.0, "d1": 1.0},  # pair a: both first -> 1
           "b_q1": {"d3": 2.0, "d4": 1.0}, "b_q2": {"d3": 2.0, "d4": 1.0}}  # pair b: q2 misses -> 0
    metrics, _ = score(task, run)
    assert metrics["paired-accuracy"] == 0.5 and metrics["R@1"] == 0.75
