"""What a model returns is checked where it enters the harness (issue 19, item 1), through the CLI
with the plugins of `model_plugins.py`: a wrong vector, score or id is one sentence naming the model,
never a ranking; the other models of the run still run; nothing wrong is cached."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.tasks import sample_dir

GOOD = "model_plugins:HashEncoder"


def cli(*args):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200", "HF_HUB_OFFLINE": "1"}, catch_exceptions=False)


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    """The sample as a BEIR folder (full retrieval): 24 judged queries, 304 documents."""
    folder = tmp_path_factory.mktemp("data") / "beir"
    shutil.copytree(sample_dir(), folder)
    for name in ("top_ranked.jsonl", "qrel_diff.jsonl", "instructions.jsonl"):
        (folder / name).unlink()
    return folder


def run(tmp_path, model, task, *extra):
    return cli("run", "--model", f"model_plugins:{model}", "--model", GOOD, "--tasks", str(task),
               "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *extra)


def assert_refused(tmp_path, result, label, message, task):
    """The model's one-line error, the good model's result saved, the not-run line, exit status 1."""
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert f"error: {label} on {task}: {message}" in lines, result.output
    assert lines[-1] == f"error: not run: {label} on {task} (see above); every other result is saved."
    assert [p.parent.parent.name for p in (tmp_path / "out").rglob("*.json")] == ["hashencoder"]
    assert "Traceback" not in result.output


def test_a_nan_document_vector_is_refused_and_never_cached(tmp_path, beir):
    result = run(tmp_path, "NaNDocEncoder", beir)
    assert_refused(tmp_path, result, "nandocencoder", "'nandocencoder' returned 1 document vector(s) holding NaN or "
                   "infinite values, of 32 documents in one batch; nothing of that batch is kept or cached.", "beir")
    stores = [m.parent for m in (tmp_path / "cache" / "embeddings").rglob("manifest.json") if "nandocencoder" in str(m)]
    [store] = stores  # the documents' store: the first batch kept, the NaN batch not
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["shards"][-1]["end"] == 32
    vectors = np.fromfile(store / "vectors.f32", dtype=np.float32)
    assert vectors.size == 32 * 64 and np.isfinite(vectors).all()


@pytest.mark.parametrize("model, message", [
    ("QueryDimEncoder", "'querydimencoder' returned query vectors of dimension 32 and document vectors of dimension 64; "
                        "they must have one dimension to be compared."),
    ("StringEncoder", "'stringencoder' returned values of type <U3 for 32 documents, not an array of numbers."),
    ("NaNRetriever", "'nanretriever'.retrieve() returned 24 NaN or infinite score(s) for the documents of 24 of 24 "
                     "queries (e.g. 'd01-02' of 'q01-og'); scores must be finite."),
    ("ForeignRetriever", "'foreignretriever'.retrieve() returned 'not-a-document' for query 'q01-og', which is not a "
                         "document of the corpus (1 such)."),
])
def test_wrong_vectors_and_retrieved_runs_are_refused(tmp_path, beir, model, message):
    assert_refused(tmp_path, run(tmp_path, model, beir), model.lower(), message, "beir")


@pytest.mark.parametrize("model, message", [
    ("NaNReranker", "'nanreranker'.rerank() returned 608 NaN or infinite score(s) for the documents of 24 of 24 queries "
                    "(e.g. 'd01-24' of 'q01-og'); scores must be finite."),
    ("PartialReranker", "'partialreranker'.rerank() left 24 of its 608 candidates unscored (e.g. 'd01-19' of query "
                        "'q01-og'); a reranker scores every candidate it is given."),
    ("IntruderReranker", "'intruderreranker'.rerank() returned 'd12-01' for query 'q01-og', which is not one of the "
                         "query's candidates (1 such)."),
    ("StringReranker", "'stringreranker'.rerank() returned '25.0' (str) as the score of 'd01-24' for query 'q01-og', not a number."),
    ("ListReranker", "'listreranker'.rerank() returned [25.0] (list) as the score of 'd01-24' for query 'q01-og', not a number."),
])
def test_wrong_reranker_output_is_refused(tmp_path, model, message):
    assert_refused(tmp_path, run(tmp_path, model, "sample"), model.lower(), message, "sample")


def test_a_pipeline_stage_is_checked_too(tmp_path, beir):
    """A reranker returning NaN after a first stage: refused, not replaced by the first stage's scores."""
    result = run(tmp_path, "FirstDocs>>model_plugins:NaNReranker", beir)
    assert_refused(tmp_path, result, "firstdocs>>nanreranker", "'nanreranker'.rerank() returned 720 NaN or infinite "
                   "score(s) for the documents of 24 of 24 queries (e.g. 'd01-01' of 'q01-og'); scores must be finite.", "beir")


def test_a_retriever_returning_more_than_top_k_is_cut_to_it(tmp_path, beir):
    """FirstDocs returns 30 documents whatever it is asked: with --top-k 5 the run keeps the 5 best."""
    result = cli("run", "--model", "model_plugins:FirstDocs", "--tasks", str(beir), "--top-k", "5",
                 "--measures", "R@100", "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / "out").rglob("*.json")
    stored = json.loads(path.read_text())
    assert stored["identity"]["top_k"] == 5
    lines = [line.split() for line in path.with_suffix(".run.trec").read_text().splitlines()]
    first5 = sorted(json.loads(line)["_id"] for line in (beir / "corpus.jsonl").read_text().splitlines())[:5]
    assert len(lines) == 24 * 5 and {tuple(x[2] for x in lines if x[0] == q) for q in {x[0] for x in lines}} == {tuple(first5)}
    # R@100 by hand: the 5 documents d01-01..d01-05 hold, of each topic-1 query's relevant documents, those among them
    qrels = [line.split("\t") for line in (beir / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    relevant = {q: {d for q2, d, r in qrels if q2 == q and int(r) > 0} for q, _, _ in qrels}
    expected = sum(len(rel & set(first5)) / len(rel) for rel in relevant.values()) / len(relevant)
    assert stored["metrics"]["R@100"] == pytest.approx(expected)


def test_a_judged_query_missing_from_a_run_scores_zero_with_a_warning(tmp_path, beir):
    result = cli("run", "--model", "model_plugins:SilentRetriever", "--tasks", str(beir), "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    message = ("12 of 24 judged queries have no document in the run (e.g. 'q01-changed'); they score 0 on every measure.")
    assert f"warning: silentretriever on beir: {message}" in result.output.splitlines()
    [path] = (tmp_path / "out").rglob("*.json")
    stored = json.loads(path.read_text())
    assert stored["warnings"] == [message]
    assert all(stored["per_query"]["nDCG@10"][q] == 0 for q in stored["per_query"]["nDCG@10"] if q.endswith("-changed"))


def test_a_plugin_that_fails_in_its_constructor_leaves_the_others_running(tmp_path):
    result = run(tmp_path, "Broken", "sample")
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert "error: model_plugins:Broken could not be loaded: RuntimeError: weights not found" in lines
    assert lines[-1] == "error: not run: model_plugins:Broken (see above); every other result is saved."
    assert [p.parent.parent.name for p in (tmp_path / "out").rglob("*.json")] == ["hashencoder"]


def test_a_cross_encoder_with_a_random_head_is_refused(tmp_path):
    """A bi-encoder folder loads as a cross-encoder only with a newly initialised head: refused."""
    from harness.models.dense import bundled_minilm_path

    folder = bundled_minilm_path()
    result = cli("run", "--model", f"cross-encoder:{folder}", "--model", GOOD, "--tasks", "sample",
                 "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"))
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert (f"error: {folder} is no trained cross-encoder: transformers initialised its classification head at random "
            "while loading it (weights missing from the checkpoint), so its scores would be noise.") in lines
    assert lines[-1] == f"error: not run: cross-encoder:{folder} (see above); every other result is saved."
    assert [p.parent.parent.name for p in (tmp_path / "out").rglob("*.json")] == ["hashencoder"]


def test_a_lazily_loaded_model_is_timed_in_the_load_phase(tmp_path, beir, monkeypatch):
    """MiniLM whose facts are kept in the cache loads on first use; a load that takes at least 4 s
    (slowed down here) is booked as `load`, and encoding 5 documents takes well under that."""
    import time
    from dataclasses import replace

    from harness.data.local import load_local
    from harness.models import load_model
    from harness.models.dense import SentenceTransformerEncoder
    from harness.runner import RunOptions, evaluate

    load_model("minilm", cache_dir=tmp_path)  # keeps the model's facts: the next one loads lazily
    lazy = load_model("minilm", cache_dir=tmp_path)
    assert lazy._model is None
    real = SentenceTransformerEncoder._load
    monkeypatch.setattr(SentenceTransformerEncoder, "_load", lambda self: (time.sleep(4.0), real(self))[1])
    task = load_local(beir)
    task = replace(task, corpus=dict(list(task.corpus.items())[:5]), queries=dict(list(task.queries.items())[:2]))
    result, _ = evaluate(lazy, task, RunOptions(use_cache=False, show_progress=False), load_seconds=0.001)
    seconds = result["provenance"]["seconds"]
    assert seconds["load"] >= 4.0 and seconds["encode_documents"] < 4.0 and seconds["search"] < 4.0, seconds
