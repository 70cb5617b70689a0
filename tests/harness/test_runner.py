"""End to end on the embedded sample with the bundled MiniLM, through the CLI as a user runs it."""

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.metrics import p_mrr
from harness.results import load_result
from harness.tasks import load_task
from harness.types import base_query_id


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    res = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", "sample", "--output", str(out), "--cache-dir", str(cache)])
    assert res.exit_code == 0, res.output
    return out, cache, res.output


def test_result_file_schema(sample_run):
    out, _, output = sample_run
    [path] = list(out.rglob("sample.json"))
    result = load_result(path)
    assert result["schema_version"] == 2
    assert len(result["identity_hash"]) >= 12 and result["variant"] == {}
    assert result["identity"]["model"]["query_template"] == "{query} {instruction}"
    assert result["task"]["kind"] == "instruction-reranking" and result["task"]["revision"].startswith("sha256:")
    assert result["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert result["model"]["query_template"] == "{query} {instruction}"
    assert set(result["metrics"]) == {"p-MRR", "og", "changed"}
    assert set(result["metrics"]["og"]) == {"AP@1000", "nDCG@5"}
    assert -1 <= result["metrics"]["p-MRR"] <= 1
    assert result["provenance"]["command"].startswith("ifir-bench run --model minilm")
    assert len(result["per_query"]["p-MRR"]) == 12
    assert "p-MRR" in output and "sample" in output


def test_scores_rebuild_from_the_run_file(sample_run):
    """The stored p-MRR and MAP follow from the TREC run beside the result, scored independently."""
    import ir_measures

    out, _, _ = sample_run
    [path] = list(out.rglob("sample.json"))
    result = load_result(path)
    run: dict = {}
    for r in ir_measures.read_trec_run(str(path.with_suffix(".run.trec"))):  # a peer's reader of the file
        run.setdefault(r.query_id, {})[r.doc_id] = r.score
    task = load_task("sample")
    og = {base_query_id(q): r for q, r in run.items() if q.endswith("-og")}
    ch = {base_query_id(q): r for q, r in run.items() if q.endswith("-changed")}
    assert p_mrr(og, ch, task.changed_docs)[0] == pytest.approx(result["metrics"]["p-MRR"], abs=1e-6)
    qrels = {q: d for q, d in task.qrels.items() if q.endswith("-og")}
    ap = ir_measures.calc_aggregate([ir_measures.AP @ 1000], qrels, {q: r for q, r in run.items() if q.endswith("-og")})
    assert list(ap.values())[0] == pytest.approx(result["metrics"]["og"]["AP@1000"], abs=1e-4)


def test_second_run_reuses_result_and_cache(sample_run, tmp_path):
    out, cache, _ = sample_run
    res = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", "sample", "--output", str(out), "--cache-dir", str(cache)])
    assert res.exit_code == 0 and "existing result" in res.output
    res = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", "sample", "--output", str(tmp_path), "--cache-dir", str(cache)])
    assert res.exit_code == 0
    [path] = list(tmp_path.rglob("sample.json"))
    options = json.loads(path.read_text())["provenance"]["options"]
    # every vector came from the cache: no batch size is claimed for vectors an earlier run made
    assert options["texts_encoded"] == 0 and options["texts_from_cache"] == 304 + 24 and options["batch_size"] is None


def test_template_override_is_recorded(sample_run, tmp_path):
    _, cache, _ = sample_run
    res = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", "sample", "--output", str(tmp_path),
                                    "--cache-dir", str(cache), "--template", "{instruction} {query}"])
    assert res.exit_code == 0, res.output
    [path] = list(tmp_path.rglob("sample@*.json"))
    result = json.loads(path.read_text())
    assert result["model"]["query_template"] == "{instruction} {query}"
    assert result["variant"] == {"template": "{instruction} {query}"}
    assert result["provenance"]["options"]["texts_encoded"] == 24  # only the queries are new


def test_bad_input_is_one_line(tmp_path):
    res = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", "no/such/dir/x", "--output", str(tmp_path)])
    assert res.exit_code == 2
    assert "error:" in res.output and "Traceback" not in res.output
