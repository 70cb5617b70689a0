"""`bm25>>cross-encoder:PATH` through the CLI, as a user runs it: on real SciFact queries (full
retrieval, then reranking the top k) and on the FollowIR sample (the candidates are the first stage)."""

from __future__ import annotations

import json

import ir_measures
import pytest
from click.testing import CliRunner
from cross_encoder_training import tiny_cross_encoder

from baselines.bm25 import BM25
from harness.cli import main
from harness.errors import IfirError
from harness.models import load_model
from harness.ranking import ranked
from harness.results import run_path
from harness.search import produce_run
from harness.tasks import load_task

pytestmark = pytest.mark.filterwarnings("ignore")
DEPTH = 10


@pytest.fixture(scope="module")
def ce_path(shared_data):
    return tiny_cross_encoder(shared_data / "scifact")


@pytest.fixture(scope="module")
def scifact_subset(shared_data, tmp_path_factory):
    """Real SciFact: the whole corpus, the first 20 test queries."""
    src, out = shared_data / "scifact", tmp_path_factory.mktemp("scifact-20")
    qrels = [line for line in (src / "qrels" / "test.tsv").read_text().splitlines()[1:] if line.strip()]
    qids = list(dict.fromkeys(line.split("\t")[0] for line in qrels))[:20]
    (out / "corpus.jsonl").symlink_to(src / "corpus.jsonl")
    queries = [line for line in (src / "queries.jsonl").read_text().splitlines() if json.loads(line)["_id"] in qids]
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (out / "qrels").mkdir()
    (out / "qrels" / "test.tsv").write_text("\n".join(line for line in qrels if line.split("\t")[0] in qids) + "\n")
    return out


def run_cli(*args):
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 0, result.output
    return result


def read_result(output, task_name):
    [path] = output.rglob(f"{task_name}*.json")  # non-default --top-k / --rerank-depth add @<hash>
    return json.loads(path.read_text()), {
        q: {d.doc_id: d.score for d in docs} for q, docs in _by_query(ir_measures.read_trec_run(str(run_path(path))))
    }


def _by_query(scored_docs):
    run: dict = {}
    for d in scored_docs:
        run.setdefault(d.query_id, []).append(d)
    return run.items()


def test_bm25_then_cross_encoder_on_scifact(ce_path, scifact_subset, tmp_path):
    spec = f"bm25>>cross-encoder:{ce_path}"
    cache = tmp_path / "cache"
    run_cli("--model", spec, "--tasks", str(scifact_subset), "--rerank-depth", str(DEPTH), "--top-k", "100",
            "--output", str(tmp_path / "out"), "--cache-dir", str(cache))  # fmt: skip
    result, run = read_result(tmp_path / "out", scifact_subset.name)
    stages = result["model"]["extra"]["stages"]
    assert [s["kind"] for s in stages] == ["sparse", "reranker"] and result["model"]["extra"]["rerank_depth"] == DEPTH
    assert stages[0]["spec"] == "bm25" and stages[1]["spec"] == f"cross-encoder:{ce_path}"

    task = load_task(str(scifact_subset))
    first = produce_run(BM25(cache_dir=cache), task, top_k=100)
    reranker = load_model(f"cross-encoder:{ce_path}")
    queries = {q: query.text for q, query in task.queries.items()}
    head = reranker.rerank(task.corpus, queries, {q: ranked(first[q])[:DEPTH] for q in queries})
    for q in queries:
        order = ranked(run[q])
        assert order[:DEPTH] == ranked(head[q]), q  # the reranker's order of BM25's top k
        assert order[DEPTH:] == ranked(first[q])[DEPTH:100], q  # then BM25's order
    # Reranking inside the top 100 leaves R@100 as BM25 alone has it.
    bm25_alone = ir_measures.calc_aggregate([ir_measures.R @ 100], task.qrels, first)[ir_measures.R @ 100]
    assert result["metrics"]["R@100"] == pytest.approx(bm25_alone)
    assert 0 <= result["metrics"]["nDCG@10"] <= 1


def test_pipeline_on_followir_sample_starts_from_the_candidates(ce_path, tmp_path):
    run_cli("--model", f"bm25>>cross-encoder:{ce_path}", "--tasks", "sample", "--rerank-depth", "5",
            "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    result, run = read_result(tmp_path / "out", "sample")
    task = load_task("sample")
    assert {q: set(d) for q, d in run.items()} == {q: set(c) for q, c in task.candidates.items()}
    bm25 = BM25(cache_dir=tmp_path / "cache")
    first = bm25.rerank(task.corpus, {q: bm25.meta.format_query(x) for q, x in task.queries.items()}, task.candidates)
    for q in run:
        order = ranked(run[q])
        assert set(order[:5]) == set(ranked(first[q])[:5]) and order[5:] == ranked(first[q])[5:]
    assert -1 <= result["metrics"]["p-MRR"] <= 1
    assert [s["kind"] for s in result["model"]["extra"]["stages"]] == ["sparse", "reranker"]


def test_pipeline_errors_are_clear(ce_path):
    with pytest.raises(IfirError, match="cannot retrieve"):
        load_model(f"cross-encoder:{ce_path}>>bm25").retrieve({}, {}, top_k=10)
