"""The cross-encoder reranker, on a tiny cross-encoder trained from the bundled MiniLM on SciFact."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from cross_encoder_training import tiny_cross_encoder

from baselines.cross_encoder import CrossEncoderReranker
from harness.errors import IfirError
from harness.models import load_model
from harness.models.locate import path_fingerprint
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task
from harness.types import base_query_id

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def ce_path(shared_data):
    return tiny_cross_encoder(shared_data / "scifact")


@pytest.fixture(scope="module")
def reranker(ce_path):
    return load_model(f"cross-encoder:{ce_path}", batch_size=16)


@pytest.fixture(scope="module")
def sample():
    return load_task("sample")


def test_scores_are_the_models_and_each_pair_is_scored_once(reranker, ce_path, sample):
    from sentence_transformers import CrossEncoder

    docs = sample.candidates["q01-og"][:6]
    text = sample.queries["q01-og"].text
    queries = {"a": text, "b": text, "c": "lithium-ion battery recycling"}
    candidates = {"a": docs, "b": docs[:3], "c": docs[:2]}
    before = reranker.timings["pairs_scored"]
    run = reranker.rerank(sample.corpus, queries, candidates)
    assert reranker.timings["pairs_scored"] - before == 6 + 2  # "b" repeats pairs of "a"
    direct = CrossEncoder(ce_path).predict([(q, f"{sample.corpus[d].title} {sample.corpus[d].text}".strip()) for q in (text, queries["c"]) for d in docs[:2]])
    assert [run["a"][docs[0]], run["a"][docs[1]], run["c"][docs[0]], run["c"][docs[1]]] == pytest.approx(list(direct), abs=1e-5)
    assert run["b"] == {d: run["a"][d] for d in docs[:3]}


def test_meta_pins_the_local_folder(reranker, ce_path):
    assert reranker.meta.kind == "reranker"
    assert reranker.meta.revision == path_fingerprint(ce_path)
    assert reranker.meta.spec == f"cross-encoder:{ce_path}"


def test_reranks_followir_candidates_alone(reranker, sample):
    """On FollowIR the task's candidate lists are the first stage: a reranker runs on its own."""
    topics = ("q01", "q02", "q03")
    keep = [q for q in sample.queries if base_query_id(q) in topics]
    task = replace(
        sample,
        queries={q: sample.queries[q] for q in keep},
        candidates={q: sample.candidates[q] for q in keep},
        qrels={q: sample.qrels[q] for q in keep},
        changed_docs={q: sample.changed_docs[q] for q in topics},
    )
    result, run = evaluate(reranker, task, RunOptions(show_progress=False))
    assert {q: set(d) for q, d in run.items()} == {q: set(task.candidates[q]) for q in keep}
    assert -1 <= result["metrics"]["p-MRR"] <= 1 and 0 <= result["metrics"]["og"]["nDCG@5"] <= 1


def test_the_recipes_reranker_reads_the_whole_instruction(reranker, sample):
    """The sample's changed instruction of q01 is the og's 48 words plus a sentence; a reranker that read
    only the first 64 tokens of (query with instruction, document) scored both alike for every
    candidate (p-MRR exactly 0 on the sample). The recipe's saved model reads 512: the scores differ."""
    from baselines.cross_encoder_training import READ_LENGTH

    og, changed = sample.queries["q01-og"], sample.queries["q01-changed"]
    same = len([a for a, b in zip(og.instruction.split(), changed.instruction.split()) if a == b])
    assert og.instruction != changed.instruction and same > 30  # the difference is far into the text
    assert reranker.model.max_length == READ_LENGTH == 512
    docs = sample.candidates["q01-og"][:4]
    run = reranker.rerank(sample.corpus, {"og": og, "changed": changed}, {"og": docs, "changed": docs})
    assert any(abs(run["og"][d] - run["changed"][d]) > 1e-4 for d in docs)


def test_clear_errors(tmp_path, sample, reranker):
    t0 = time.perf_counter()
    with pytest.raises(IfirError, match="not in the local cache and the hub is offline"):
        CrossEncoderReranker("no-such-org/no-such-reranker")
    assert time.perf_counter() - t0 < 10
    with pytest.raises(IfirError, match="no config.json"):
        CrossEncoderReranker(str(tmp_path))
    with pytest.raises(IfirError, match="needs a model"):
        load_model("cross-encoder")
    with pytest.raises(IfirError, match="not in the corpus"):
        reranker.rerank(sample.corpus, {"q": "bees"}, {"q": ["no-such-doc"]})
