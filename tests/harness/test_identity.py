"""Result identity (issue 8 §2): a result is reused only when nothing that changes its numbers
changed; options reach every stage through one channel; queries reach stages as `Query` objects.

The reference for "not stale" is a fresh in-memory evaluation of the asked settings (no result
files involved): the CLI's numbers must equal it and differ from the earlier run's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cache import EmbeddingCache
from harness.cli import main, shard_of
from harness.errors import IfirError
from harness.models.protocols import ModelMeta
from harness.pipeline import Pipeline
from harness.runner import RunOptions, evaluate
from harness.search import DenseSearch, as_searcher, embedding_cache_key
from harness.tasks import load_task
from harness.types import Document, Query, Task

INSTRUCTION = "Relevant abstracts report a randomized controlled trial."


@pytest.fixture(scope="module")
def tiny(shared_data, tmp_path_factory) -> Path:
    """Real SciFact, cut small: 8 test claims (4 in split `test`, 4 in `dev`) with an instruction
    each, their cited abstracts and the first 200 other abstracts."""
    src, out = shared_data / "scifact", tmp_path_factory.mktemp("tasks") / "tiny"
    rows = [line.split("\t") for line in (src / "qrels" / "test.tsv").read_text().splitlines()[1:] if line.strip()]
    qids = list(dict.fromkeys(r[0] for r in rows))[:8]
    judged = {r[1] for r in rows if r[0] in qids}
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    keep = [d for d in docs if d["_id"] in judged] + [d for d in docs if d["_id"] not in judged][:200]
    out.mkdir()
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in keep))
    queries = [json.loads(line) for line in (src / "queries.jsonl").read_text().splitlines()]
    (out / "queries.jsonl").write_text(
        "".join(json.dumps(q | {"instruction": INSTRUCTION}) + "\n" for q in queries if q["_id"] in qids)
    )
    (out / "qrels").mkdir()
    for split, part in (("test", qids[:4]), ("dev", qids[4:])):
        (out / "qrels" / f"{split}.tsv").write_text("".join("\t".join(r) + "\n" for r in rows if r[0] in part))
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def cli(*args: str) -> str:
    res = CliRunner().invoke(main, ["run", *args])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def default_run(tiny, cache, tmp_path_factory):
    """MiniLM on the tiny task with default settings, through the CLI."""
    out = tmp_path_factory.mktemp("results")
    cli("--model", "minilm", "--tasks", str(tiny), "--output", str(out), "--cache-dir", str(cache))
    [path] = out.rglob("*.json")
    return out, path, json.loads(path.read_text())


def variant_file(out: Path, default: Path) -> dict:
    [path] = [p for p in out.rglob("tiny*.json") if p != default]
    assert path.parent == default.parent and path.name.startswith("tiny@"), path
    return json.loads(path.read_text())


def run_scores(path: Path) -> dict:
    return {(c[0], c[2]): float(c[4]) for c in (line.split() for line in path.read_text().splitlines())}


def expected(minilm, task: Task, cache: Path, **options) -> dict:
    result, _ = evaluate(minilm, task, RunOptions(cache_dir=cache, show_progress=False, **options))
    return result["metrics"]


def test_default_layout_timings_and_identity(default_run, tiny):
    out, path, result = default_run
    assert path == out / "sentence-transformers__all-MiniLM-L6-v2" / result["model"]["revision"].replace(":", "_") / "tiny.json"
    assert result["variant"] == {} and result["identity"]["top_k"] == 1000
    assert result["identity"]["task"]["split"] == "test" and result["identity"]["measures"] == ["nDCG@10", "R@100"]
    prov = result["provenance"]
    assert {"load", "encode_documents", "encode_queries", "search", "score"} <= set(prov["seconds"])
    assert set(prov["throughput"]) == {"documents_per_s", "queries_per_s"}
    assert prov["backend"] == "torch" and prov["device"].startswith("cpu")
    n_docs = sum(1 for _ in (tiny / "corpus.jsonl").open())
    assert prov["options"]["texts_encoded"] == n_docs + 4 and prov["options"]["batch_size"] == 32


def test_template_change_gives_new_numbers(default_run, tiny, cache, minilm):
    out, default, before = default_run
    template = "{instruction} {query}"
    cli("--model", "minilm", "--tasks", str(tiny), "--output", str(out), "--cache-dir", str(cache), "--template", template)
    after = variant_file(out, default)
    assert after["variant"] == {"template": template} and after["identity"]["model"]["query_template"] == template
    assert after["metrics"] == expected(minilm, load_task(str(tiny)), cache, template=template)
    # the scores are new (the instruction now leads the query text); the default result is untouched
    assert run_scores(out / default.parent / after["run_file"]) != run_scores(default.with_suffix(".run.trec"))
    assert json.loads(default.read_text())["metrics"] == before["metrics"]
    again = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", str(tiny), "--output", str(out),
                                      "--cache-dir", str(cache), "--template", template])
    assert "(existing result; --overwrite to recompute)" in again.output


def test_measures_change_gives_new_numbers(default_run, tiny, cache, minilm):
    out, default, _ = default_run
    cli("--model", "minilm", "--tasks", str(tiny), "--output", str(out / "m"), "--cache-dir", str(cache))
    cli("--model", "minilm", "--tasks", str(tiny), "--output", str(out / "m"), "--cache-dir", str(cache), "--measures", "RR@10,P@5")
    after = variant_file(out / "m", next((out / "m").rglob("tiny.json")))
    assert set(after["metrics"]) == {"RR@10", "P@5"} and after["variant"] == {"measures": ["RR@10", "P@5"]}
    assert after["metrics"] == expected(minilm, load_task(str(tiny)), cache, measures=["RR@10", "P@5"])


def test_split_change_gives_new_numbers(default_run, tiny, cache, minilm):
    out, default, before = default_run
    cli("--model", "minilm", "--tasks", str(tiny), "--output", str(out / "s"), "--cache-dir", str(cache), "--split", "dev")
    [path] = (out / "s").rglob("tiny*.json")
    after = json.loads(path.read_text())
    assert path.name.startswith("tiny@") and after["variant"] == {"split": "dev"} and after["task"]["split"] == "dev"
    assert after["metrics"] == expected(minilm, load_task(str(tiny), split="dev"), cache)
    assert after["metrics"] != before["metrics"] and set(after["per_query"]["nDCG@10"]).isdisjoint(before["per_query"]["nDCG@10"])


def test_top_k_change_gives_new_numbers(default_run, tiny, cache, minilm):
    out, default, before = default_run
    cli("--model", "minilm", "--tasks", str(tiny), "--output", str(out), "--cache-dir", str(cache), "--top-k", "1")
    after = [json.loads(p.read_text()) for p in out.glob("*/*/tiny@*.json")]
    after = next(r for r in after if r["variant"] == {"top_k": 1})
    assert after["metrics"] == expected(minilm, load_task(str(tiny)), cache, top_k=1)
    assert after["metrics"]["R@100"] < before["metrics"]["R@100"]


def test_edited_data_is_recomputed_not_served_stale(tiny, cache, minilm, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(tiny, copy)
    out = tmp_path / "results"
    cli("--model", "minilm", "--tasks", str(copy), "--output", str(out), "--cache-dir", str(cache))
    [path] = out.rglob("*.json")
    before = json.loads(path.read_text())
    # The same folder, edited: every judged abstract of the first claim loses its text.
    first = next(iter(before["per_query"]["nDCG@10"]))
    judged = {line.split("\t")[1] for line in (copy / "qrels" / "test.tsv").read_text().splitlines() if line.startswith(first + "\t")}
    docs = [json.loads(line) for line in (copy / "corpus.jsonl").read_text().splitlines()]
    (copy / "corpus.jsonl").write_text("".join(json.dumps(d | {"title": "x", "text": "unrelated filler"} if d["_id"] in judged else d) + "\n" for d in docs))
    output = cli("--model", "minilm", "--tasks", str(copy), "--output", str(out), "--cache-dir", str(cache))
    assert "replaced a result made from other data or model settings" in output
    [again] = out.rglob("*.json")
    after = json.loads(again.read_text())
    assert again == path and after["identity_hash"] != before["identity_hash"]
    assert after["metrics"] == expected(minilm, load_task(str(copy)), cache)
    assert after["per_query"]["nDCG@10"][first] < before["per_query"]["nDCG@10"][first]


# ---- one channel for options; queries as Query objects ------------------------------------------


class Recorder:
    """A plugin retriever and reranker that records the query texts it builds with its template."""

    def __init__(self, name: str, template: str):
        self.meta = ModelMeta(name=name, revision="1", kind="test", query_template=template)
        self.seen: list[str] = []

    def _texts(self, queries):
        assert all(isinstance(q, Query) for q in queries.values())
        self.seen += [self.meta.format_query(q) for q in queries.values()]

    def retrieve(self, corpus, queries, *, top_k):
        self._texts(queries)
        return {q: {d: float(i) for i, d in enumerate(sorted(corpus))} for q in queries}

    def rerank(self, corpus, queries, candidates):
        self._texts(queries)
        return {q: {d: -float(i) for i, d in enumerate(candidates[q])} for q in queries}


class FakeEncoder:
    def __init__(self, **meta):
        self.meta = ModelMeta(name="fake", revision="1", kind="dense", **meta)

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        raise AssertionError("not called")


def small_task() -> Task:
    corpus = {d: Document(d, f"text {d}") for d in ("a", "b", "c")}
    queries = {"q": Query("q", "bees", "only honey")}
    return Task("small", "retrieval", corpus, queries, {"q": {"a": 1}}, ["nDCG@10"], "mem", "sha256:0")


def test_each_pipeline_stage_applies_its_own_template():
    first, second = Recorder("first", "{query}"), Recorder("second", "{instruction} :: {query}")
    evaluate(Pipeline([first, second]), small_task(), RunOptions(show_progress=False))
    assert first.seen == ["bees"] and second.seen == ["only honey :: bees"]


def test_template_override_reaches_every_stage_and_is_restored():
    first, second = Recorder("first", "{query}"), Recorder("second", "{instruction} :: {query}")
    result, _ = evaluate(Pipeline([first, second]), small_task(), RunOptions(show_progress=False, template="{query}!"))
    assert first.seen == second.seen == ["bees!"] and result["variant"] == {"template": "{query}!"}
    assert (first.meta.query_template, second.meta.query_template) == ("{query}", "{instruction} :: {query}")


def test_pipeline_stages_get_the_run_options(tmp_path):
    searcher = as_searcher(Pipeline([Recorder("first", "{query}"), FakeEncoder()]), RunOptions(cache_dir=tmp_path, batch_size=7))
    dense = searcher.stages[1]
    assert isinstance(dense, DenseSearch) and dense.batch_size == 7 and dense.cache.dir.is_relative_to(tmp_path)
    no_cache = as_searcher(Pipeline([Recorder("f", "{query}"), FakeEncoder()]), RunOptions(use_cache=False)).stages[1]
    assert not isinstance(no_cache.cache, EmbeddingCache)  # --no-cache: vectors live in memory only


def test_prompted_model_never_reads_unprompted_vectors(tmp_path):
    plain, prompted = FakeEncoder(), FakeEncoder(query_prompt="query: ", doc_prompt="passage: ")
    assert embedding_cache_key(plain.meta) != embedding_cache_key(prompted.meta)
    dirs = {as_searcher(m, RunOptions(cache_dir=tmp_path)).cache.dir for m in (plain, prompted)}
    assert len(dirs) == 2
    for change in ({"max_seq_length": 128}, {"backend": "onnx"}, {"quantize": "int8"}, {"precision": "bf16"}):
        other = FakeEncoder(extra=change)
        assert embedding_cache_key(other.meta) != embedding_cache_key(plain.meta), change


class OldPlugin:
    """Written for the old protocol, where queries were joined strings."""

    meta = ModelMeta(name="old", revision="1", kind="test")

    def retrieve(self, corpus, queries, *, top_k):
        return {q: {d: float(text.lower().count(d)) for d in corpus} for q, text in queries.items()}


def test_plugin_on_the_old_protocol_gets_a_clear_message():
    with pytest.raises(IfirError, match=r"'old'\.retrieve\(\) failed on a query .* receive harness\.types\.Query objects"):
        evaluate(OldPlugin(), small_task(), RunOptions(show_progress=False))


# ---- paths, arguments, shards (issue 12 items 8, 9; issue 11 --shard) ----------------------------


class DotDot:
    """A plugin whose name and revision try to climb out of --output."""

    def __init__(self):
        self.meta = ModelMeta(name="..", revision="../..", kind="test")

    def retrieve(self, corpus, queries, *, top_k):
        return {q: {d: 1.0 for d in corpus} for q in queries}

    def rerank(self, corpus, queries, candidates):
        return {q: {d: 1.0 for d in candidates[q]} for q in queries}


class Flat(DotDot):
    def __init__(self):
        self.meta = ModelMeta(name="flat", revision="1", kind="test")


def test_model_name_dotdot_stays_inside_output(tiny, tmp_path):
    out = tmp_path / "deep" / "results"
    cli("--model", "tests.harness.test_identity:DotDot", "--tasks", str(tiny), "--output", str(out))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.is_relative_to(out) for p in written)
    assert out / "_.." / "_..__.." / "tiny.json" in written


@pytest.mark.parametrize(
    "args, message",
    [
        (["--template", "{query} {foo}"],
         "Invalid value for '--template': unknown field {foo} in '{query} {foo}'; a template may use only {query} and {instruction}."),
        (["--template", "{instruction}"],
         "Invalid value for '--template': '{instruction}' has no {query} field; e.g. '{instruction} {query}'."),
        (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range 1<=x<=2147483647."),
        (["--top-k", "0"], "Invalid value for '--top-k': 0 is not in the range 1<=x<=2147483647."),
        (["--rerank-depth", "0"], "Invalid value for '--rerank-depth': 0 is not in the range 1<=x<=2147483647."),
        (["--top-k", "99999999999999999999"], "Invalid value for '--top-k': 99999999999999999999 is not in the range 1<=x<=2147483647."),
        (["--shard", "0/4"], "Invalid value for '--shard': '0/4': use K/N with 1 <= K <= N, e.g. 2/8 (K counts from 1)."),
        (["--measures", "nDCG@ten"], "error: Unknown measure 'nDCG@ten'"),
    ],
)
def test_bad_run_options_give_one_clear_message(args, message, tmp_path):
    res = CliRunner().invoke(main, ["run", "--model", "minilm", "--tasks", "sample", "--output", str(tmp_path), *args])
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output and not any(tmp_path.iterdir())


def test_shards_split_the_grid_exactly_once():
    grid = [(m, t) for m in "abcde" for t in "xyz"]
    for n in (1, 2, 4, 15, 20):
        parts = [shard_of(grid, (k, n)) for k in range(1, n + 1)]
        assert sum(parts, []) == grid  # every pair once, in order, whatever N
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_shard_runs_only_its_pairs(tiny, tmp_path):
    models = ["--model", "tests.harness.test_identity:DotDot", "--model", "tests.harness.test_identity:Flat"]
    outputs = []
    for k in (1, 2):
        outputs.append(cli(*models, "--tasks", f"{tiny},sample", "--output", str(tmp_path), "--shard", f"{k}/2"))
    assert "shard 1/2: 2 of the (model, task) pairs" in outputs[0]
    found = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
    assert found == ["_../_..__../sample.json", "_../_..__../tiny.json", "flat/1/sample.json", "flat/1/tiny.json"]
    assert "flat on" not in outputs[0] and ".." not in outputs[1].split("pairs")[1]


def test_model_folders_under_a_cache_dir_are_told_apart(tmp_path):
    """Folders kept under ~/.cache (the mpnet wheels are unpacked there) are fingerprinted by their
    files: two different models there never share an identity, and one file changed changes it."""
    from harness.models.locate import path_fingerprint

    a, b = tmp_path / ".cache" / "m" / "a", tmp_path / ".cache" / "m" / "b"
    for folder, weights in ((a, b"\x00" * 64), (b, b"\x01" * 64)):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"hidden_size": 8}')
        (folder / "model.safetensors").write_bytes(weights)
    empty = tmp_path / ".cache" / "m" / "empty"
    empty.mkdir()
    assert len({path_fingerprint(a), path_fingerprint(b), path_fingerprint(empty)}) == 3
    (a / ".cache").mkdir()  # a cache inside the folder itself is not part of the model
    (a / ".cache" / "lock").write_text("x")
    assert path_fingerprint(a) != path_fingerprint(b)
    before = path_fingerprint(a)
    (a / ".cache" / "lock").write_text("y")
    assert path_fingerprint(a) == before


def test_a_changed_scorer_or_main_score_is_recomputed_not_reused(tmp_path, minilm):
    """The family scorer and main score of a local task (`ifir_task.json`) change the numbers: a
    result computed under one is never served for the other."""
    from dualview_trainer.experiment import write_probe_task
    from harness.data.local import load_local
    from harness.runner import RunOptions, run_and_save

    recs = [{"id": f"r{i}", "query": f"aspirin and stroke {i}", "instruction": "Only randomized trials are relevant.",
             "complement": "Randomized trials are not relevant.", "positive": f"A randomized trial of aspirin {i}.",
             "negative": f"A cohort study of aspirin {i}.", "constraint": {"type": "design"}} for i in range(3)]
    folder = tmp_path / "probe"
    write_probe_task(folder, recs, "probe")
    options = RunOptions(output=tmp_path / "results", cache_dir=tmp_path / "cache", show_progress=False)
    _, first, status = run_and_save(minilm, load_local(folder), options)
    assert status == "computed" and first["task"]["main_measure"] == "direction-accuracy"
    meta = json.loads((folder / "ifir_task.json").read_text())
    (folder / "ifir_task.json").write_text(json.dumps({**meta, "family": "nevir", "scorer": "nevir", "main": "paired-accuracy"}))
    _, second, status = run_and_save(minilm, load_local(folder), options)
    assert status != "reused" and second["task"]["main_measure"] == "paired-accuracy"
    assert "direction-accuracy" not in second["metrics"]


def test_identity_hash_is_sha256_of_canonical_json_by_hand():
    """The one identity hash: keys sorted, compact separators, UTF-8 as is (worked by hand with hashlib)."""
    import hashlib

    from harness.models.protocols import identity_hash

    blob = '{"a":[1,"é"],"b":{"c":null}}'.encode()
    assert identity_hash({"b": {"c": None}, "a": [1, "é"]}) == hashlib.sha256(blob).hexdigest()[:16]
    assert identity_hash({"b": {"c": None}, "a": [1, "é"]}, 64) == hashlib.sha256(blob).hexdigest()
    assert identity_hash([{"x": 1}], 12) == hashlib.sha256(b'[{"x":1}]').hexdigest()[:12]
