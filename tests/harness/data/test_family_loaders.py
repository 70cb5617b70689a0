"""Loaders of the instruction-following family (InstructIR, IFIR, NevIR, mFollowIR, BRIGHT), each
run offline on a local copy written in its hub repository's format (configs, columns, splits as
mteb's task files read them), then exported and read back by `load_local` unchanged."""

import pytest
from click.testing import CliRunner
from test_layouts import corpus_rows, write_repo

from harness.cli import main, results_table

from harness.data.export import export_task
from harness.data.local import load_local
from harness.errors import IfirError
from harness.families import FAMILIES, INSTRUCTION_FOLLOWING
from harness.metrics.scoring import score
from harness.models.protocols import ModelMeta
from harness.runner import task_record
from harness.search import produce_run
from harness.tasks import GROUPS, REGISTRY, load_task, sample_dir, task_listing


@pytest.fixture(scope="module")
def scifact(shared_data):
    """Real text: 12 SciFact test claims and the 200 documents around their judged abstracts."""
    task = load_local(shared_data / "scifact")
    keep = sorted(task.qrels)[:12]
    docs = {d for q in keep for d in task.qrels[q]} | set(list(task.corpus)[:200])
    task.corpus = {d: v for d, v in task.corpus.items() if d in docs}
    task.queries = {q: task.queries[q] for q in keep}
    task.qrels = {q: task.qrels[q] for q in keep}
    return task


@pytest.fixture(scope="module")
def sample():
    return load_local(sample_dir())


def roundtrip(task, tmp_path):
    """Export, load back, and check that nothing that changes a score was lost."""
    back = load_local(export_task(task, tmp_path / "export"), split=task.split)
    for attr in ("name", "kind", "family", "scorer", "main", "measures", "corpus", "queries", "qrels",
                 "candidates", "changed_docs", "excluded"):
        assert getattr(back, attr) == getattr(task, attr), attr
    assert back.main_measure == task.main_measure
    return back


class Stub:
    """A retriever whose scores are fixed by a table: (query id, doc id) -> score, others 0."""

    def __init__(self, table=None):
        self.meta = ModelMeta(name="stub", revision="0", kind="stub")
        self.table = table or {}
        self.asked = {}

    def retrieve(self, corpus, queries, *, top_k):
        self.asked["top_k"] = top_k
        run = {}
        for qid in queries:
            scores = {d: self.table.get((qid, d), -i / 1e6) for i, d in enumerate(sorted(corpus))}
            run[qid] = dict(sorted(scores.items(), key=lambda kv: -kv[1])[:top_k])
        return run

    def rerank(self, corpus, queries, candidates):
        return {q: {d: self.table.get((q, d), 0.0) for d in candidates[q]} for q in queries}


def test_instructir_layout(tmp_path, scifact):
    """mteb/InstructIR-mteb: corpus, queries, instruction, default (test); ids `<base>_<n>`."""
    instructions = ["I am a clinician; the answer must come from a randomized trial.",
                    "As a student I want an accessible review article.", "Only mechanistic studies in mice."]
    queries = {f"{q}_{n}": (scifact.queries[q].text, inst) for q in scifact.queries for n, inst in enumerate(instructions)}
    repo = write_repo(tmp_path / "repo", {
        "corpus": {"corpus": corpus_rows(scifact)},
        "queries": {"queries": [{"_id": q, "text": t} for q, (t, _) in queries.items()]},
        "instruction": {"instruction": [{"query-id": q, "instruction": i} for q, (_, i) in queries.items()]},
        "default": {"test": [{"query-id": f"{q}_{n}", "corpus-id": d, "score": 1}
                             for q, docs in scifact.qrels.items() for n in range(3) for d in docs]},
    })
    task = REGISTRY["instructir"].load(folder=repo)
    assert task.family == "instructir" and task.main_measure == "Robustness@10" and task.measures == ["nDCG@10"]
    assert task.revision == "local-copy-of:mteb/InstructIR-mteb@42c3afabe480643b755a7099dbf0f9ebeedaf6ca"
    q = task.queries[f"{sorted(scifact.queries)[0]}_1"]
    assert q.text == scifact.queries[sorted(scifact.queries)[0]].text and q.instruction == instructions[1]
    run = produce_run(Stub(), task, top_k=10)
    metrics, per_query = score(task, run)
    assert set(per_query["Robustness@10"]) == set(scifact.queries)  # one value per base query
    assert metrics["Robustness@10"] <= metrics["nDCG@10"]
    record = {"task": task_record(task), "metrics": metrics, "model": {"name": "stub"}}
    header = [c.header for c in results_table([record]).columns]
    assert "Robustness@10" in header and "nDCG@10" in header
    roundtrip(task, tmp_path)


def test_ifir_layout_levels_and_identical_ids(tmp_path, scifact):
    """if-ir/*: corpus, queries, default (test) read by mteb's default loader; level tags in query ids;
    IFIR FiQA ignores a document that shares its query's id (mteb's `ignore_identical_ids`)."""
    base = sorted(scifact.queries)
    qids = {q: f"{q}_v{1 + i % 3}" for i, q in enumerate(base)}
    corpus = corpus_rows(scifact) + [{"_id": qids[base[0]], "title": "", "text": "a document with the id of a query"}]
    repo = write_repo(tmp_path / "repo", {
        "corpus": {"corpus": corpus},
        "queries": {"queries": [{"_id": qids[q], "text": scifact.queries[q].text} for q in base]},
        "default": {"test": [{"query-id": qids[q], "corpus-id": d, "score": 1} for q in base for d in scifact.qrels[q]]},
    })
    task = REGISTRY["ifir-fiqa"].load(folder=repo)
    assert task.family == "ifir" and task.measures == ["nDCG@20"] and task.scorer == "ifir"
    assert task.excluded == {qids[base[0]]: [qids[base[0]]]}
    stub = Stub({(qids[base[0]], qids[base[0]]): 10.0})  # would rank the forbidden document first
    run = produce_run(stub, task, top_k=20)
    assert stub.asked["top_k"] == 21 and all(len(r) == 20 for r in run.values())
    assert qids[base[0]] not in run[qids[base[0]]]
    metrics, _ = score(task, run)
    assert {"nDCG@20/level-1", "nDCG@20/level-2", "nDCG@20/level-3"} <= set(metrics)
    assert not REGISTRY["ifir-cds"].scorer  # mteb computes levels only for aila, fiqa, pm, scifact_open
    roundtrip(task, tmp_path)


def test_nevir_layout(tmp_path, scifact):
    """orionweller/NevIR-mteb: corpus, queries, default, top_ranked (two candidates per query)."""
    base = sorted(scifact.queries)[:6]
    pairs = {}
    for i, q in enumerate(base):
        d1, d2 = sorted(scifact.qrels[q])[0], sorted(scifact.corpus)[i]
        pairs[str(i)] = (q, d1, d2)
    repo = write_repo(tmp_path / "repo", {
        "corpus": {"corpus": corpus_rows(scifact)},
        "queries": {"queries": [{"_id": f"{k}_q{n}", "text": scifact.queries[q].text + (" not" if n == 2 else "")}
                                for k, (q, _, _) in pairs.items() for n in (1, 2)]},
        "default": {"test": [{"query-id": f"{k}_q{n}", "corpus-id": d, "score": 1}
                             for k, (_, d1, d2) in pairs.items() for n, d in ((1, d1), (2, d2))]},
        "top_ranked": {"top_ranked": [{"query-id": f"{k}_q{n}", "corpus-ids": [d1, d2]}
                                      for k, (_, d1, d2) in pairs.items() for n in (1, 2)]},
    })
    task = REGISTRY["nevir"].load(folder=repo)
    assert task.kind == "retrieval" and task.candidates["0_q1"] == [pairs["0"][1], pairs["0"][2]]
    # pairs 0 and 1 right on both queries, pair 2 right on one only, the rest tied (doc id decides)
    table = {}
    for k in ("0", "1"):
        _, d1, d2 = pairs[k]
        table |= {(f"{k}_q1", d1): 2.0, (f"{k}_q1", d2): 1.0, (f"{k}_q2", d2): 2.0, (f"{k}_q2", d1): 1.0}
    table |= {("2_q1", pairs["2"][1]): 2.0, ("2_q2", pairs["2"][1]): 2.0}
    metrics, per_query = score(task, produce_run(Stub(table), task))
    assert metrics["paired-accuracy"] == pytest.approx(2 / 6)
    assert per_query["paired-accuracy"]["2"] == 0.0
    roundtrip(task, tmp_path)


def mfollowir_configs(sample, lang, english_queries=False):
    """The sample in mFollowIR's layout for one language: every config name carries `-<lang>`."""
    text = (lambda t: t) if english_queries else (lambda t: f"[{lang}] {t}")
    return {
        f"corpus-{lang}": {"corpus": [{**r, "text": f"[{lang}] {r['text']}"} for r in corpus_rows(sample)]},
        f"queries-{lang}": {"queries": [{"_id": q.id, "text": text(q.text)} for q in sample.queries.values()]},
        f"instruction-{lang}": {"instruction": [{"query-id": q.id, "instruction": text(q.instruction)} for q in sample.queries.values()]},
        f"default-{lang}": {"test": [{"query-id": q, "corpus-id": d, "score": r} for q, ds in sample.qrels.items() for d, r in ds.items()]},
        f"top_ranked-{lang}": {"top_ranked": [{"query-id": q, "corpus-ids": c} for q, c in sample.candidates.items()]},
        f"qrel_diff-{lang}": {"qrel_diff": [{"query-id": q, "corpus-ids": c} for q, c in sample.changed_docs.items()]},
    }


@pytest.mark.parametrize("name, english", [("mfollowir-fas", False), ("mfollowir-cl-rus", True)])
def test_mfollowir_layouts(tmp_path, sample, name, english):
    """jhu-clsp/mFollowIR(-cross-lingual)-parquet-mteb: one repo, configs suffixed by language."""
    lang = name.rsplit("-", 1)[1]
    repo = write_repo(tmp_path / "repo", mfollowir_configs(sample, "fas", english) | mfollowir_configs(sample, "rus", english))
    task = REGISTRY[name].load(folder=repo)
    assert task.kind == "instruction-reranking" and task.family == "mfollowir" and task.measures == ["nDCG@20"]
    assert all(d.text.startswith(f"[{lang}] ") for d in task.corpus.values())
    q = task.queries[next(iter(sample.queries))]
    assert q.text.startswith(f"[{lang}] ") != english
    assert task.candidates == sample.candidates and task.changed_docs == sample.changed_docs
    metrics, _ = score(task, produce_run(Stub(), task))
    assert set(metrics) == {"p-MRR", "og", "changed"} and set(metrics["og"]) == {"nDCG@20"}
    roundtrip(task, tmp_path)


def test_bright_layout_and_excluded_ids(tmp_path, scifact):
    """mteb/BRIGHT: configs documents / long_documents (id, content) and examples (id, query,
    gold_ids, gold_ids_long, excluded_ids), one split per domain."""
    docs = [{"id": d.id, "content": d.text} for d in scifact.corpus.values()]
    qs = sorted(scifact.queries)
    other = sorted(scifact.corpus)
    examples = [{"id": q, "query": scifact.queries[q].text, "reasoning": "", "gold_ids": sorted(scifact.qrels[q]),
                 "gold_ids_long": sorted(scifact.qrels[q])[:1], "excluded_ids": [other[i], other[i + 1]] if i % 2 else ["N/A"],
                 "gold_answer": ""} for i, q in enumerate(qs)]
    repo = write_repo(tmp_path / "repo", {
        "documents": {"biology": docs, "pony": docs[:50]},
        "long_documents": {"biology": docs[:120] + [{"id": d, "content": "long"} for q in qs for d in scifact.qrels[q]], "pony": docs[:5]},
        "examples": {"biology": examples, "pony": examples[:2]},
    })
    task = REGISTRY["bright-biology"].load(folder=repo)
    assert task.family == "bright" and task.split == "standard" and len(task.corpus) == len(docs)
    assert task.excluded == {q: [other[i], other[i + 1]] for i, q in enumerate(qs) if i % 2}  # "N/A" is no id
    assert task.meta["mteb_query_prompt"].startswith("Represent this biology post")
    stub = Stub({(q, d): 5.0 for q, ds in task.excluded.items() for d in ds})  # excluded docs would rank first
    run = produce_run(stub, task, top_k=10)
    assert stub.asked["top_k"] == 12 and all(len(r) == 10 for r in run.values())
    assert not any(d in run[q] for q, ds in task.excluded.items() for d in ds)
    roundtrip(task, tmp_path)
    assert load_task(str(tmp_path / "export")).split == "standard"  # the exported split, without --split
    long = REGISTRY["bright-biology-long"].load(folder=repo)
    assert long.split == "long" and all(len(d) == 1 for d in long.qrels.values())
    with pytest.raises(IfirError, match="split 'test' does not exist"):
        REGISTRY["bright-biology"].load(folder=repo, split="test")


def test_groups_and_every_pin_is_a_full_commit_or_flagged():
    assert GROUPS["instruction-following"] == [n for g in INSTRUCTION_FOLLOWING for n in GROUPS[g]]
    assert len(GROUPS["bright"]) == 20 and len(GROUPS["ifir"]) == 7 and len(GROUPS["mfollowir"]) == 6
    assert REGISTRY["robust04"].path == "mteb/Robust04InstructionRetrieval"
    assert REGISTRY["robust04"].revision == "0495a5cb69aa8fa5bca81bd56ac248911c19eeb6"
    for spec in REGISTRY.values():
        full = spec.revision and len(spec.revision) == 40 and all(c in "0123456789abcdef" for c in spec.revision)
        assert full or spec.pin_note, spec.name
        assert spec.family in FAMILIES and spec.family != "local"
    assert load_task("sample").family == "local"


def test_tasks_listing_fits_80_columns_with_hub_ids_whole():
    lines = task_listing()
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    for spec in REGISTRY.values():
        assert f"  {spec.name}" in text
        assert f"{spec.path}@{spec.revision}" in text or f"{spec.path}\n    @{spec.revision}" in text
    res = CliRunner().invoke(main, ["tasks"])
    assert res.exit_code == 0 and "mteb/Robust04InstructionRetrieval@0495a5cb69aa8fa5bca81bd56ac248911c19eeb6" in res.output


def fake_hub_snapshot(cache, repo_id, revision, configs, commit="0123456789abcdef0123456789abcdef01234567"):
    """A dataset repo laid out as huggingface_hub caches it; a short revision gets its `refs` entry,
    as an online download at that revision leaves it."""
    root = cache / f"datasets--{repo_id.replace('/', '--')}"
    write_repo(root / "snapshots" / commit, configs)
    if revision != commit:
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / revision).write_text(commit)
    return commit


@pytest.mark.parametrize("name", ["instructir", "ifir-aila"])
def test_data_export_of_a_cached_hub_task(tmp_path, monkeypatch, scifact, name):
    """`ifir-bench data export NAME DIR` offline from the hub cache, then `load_local` on DIR."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    base = sorted(scifact.queries)
    spec = REGISTRY[name]
    commit = spec.revision if len(spec.revision) == 40 else "0123456789abcdef0123456789abcdef01234567"
    fake_hub_snapshot(tmp_path / "hub", spec.path, spec.revision, {
        "corpus": {"corpus": corpus_rows(scifact)},
        "queries": {"queries": [{"_id": f"{q}_v1", "text": scifact.queries[q].text} for q in base]},
        "default": {"test": [{"query-id": f"{q}_v1", "corpus-id": d, "score": 1} for q in base for d in scifact.qrels[q]]},
    }, commit=commit)
    res = CliRunner().invoke(main, ["data", "export", name, str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    task = load_task(str(tmp_path / "out"))
    assert task.name == name and task.family == spec.family and task.main_measure == {"instructir": "Robustness@10", "ifir-aila": "nDCG@20"}[name]  # mteb main_score
    assert task.meta["exported_from"] == f"{spec.path}@{commit}"
    assert len(task.queries) == len(base)


# --- issue 19: edges where the references compute another number ---


def test_bright_long_tasks_are_ranked_by_recall_at_1_as_in_mteb(tmp_path, scifact):
    """mteb's bright_v1_1_retrieval.py: main_score recall_at_1 for the 8 -long tasks, nDCG@10 otherwise."""
    long_names = [n for n in REGISTRY if n.startswith("bright-") and n.endswith("-long")]
    assert len(long_names) == 8 and all(REGISTRY[n].main == "R@1" for n in long_names)
    assert all(REGISTRY[n].main is None and REGISTRY[n].measures[0] == "nDCG@10" for n in REGISTRY
               if n.startswith("bright-") and not n.endswith("-long"))
    qs = sorted(scifact.queries)[:2]
    golds = {q: sorted(scifact.qrels[q])[:1] for q in qs}
    docs = [{"id": d, "content": f"long document {d}"} for q in qs for d in golds[q]] + [{"id": "x", "content": "other"}]
    examples = [{"id": q, "query": scifact.queries[q].text, "gold_ids": golds[q], "gold_ids_long": golds[q],
                 "excluded_ids": ["N/A"]} for q in qs]
    # (a folder name of its own: `datasets` caches a local repo by its name and configs, not its files)
    repo = write_repo(tmp_path / "bright-long", {"documents": {"biology": docs}, "long_documents": {"biology": docs},
                                                 "examples": {"biology": examples}})
    task = REGISTRY["bright-biology-long"].load(folder=repo)
    assert task.main_measure == "R@1"
    stub = Stub({(qs[0], golds[qs[0]][0]): 5.0, (qs[1], "x"): 5.0})  # the first query's gold first, the second's second
    metrics, _ = score(task, produce_run(stub, task, top_k=10))
    assert metrics["R@1"] == 0.5  # by hand: 1 of 1 gold at rank 1, then 0 of 1
    assert roundtrip(task, tmp_path).main_measure == "R@1"


def test_judged_documents_that_are_empty_or_absent_stay_in_the_hub_qrels(tmp_path):
    """Gold {g1, g2 empty, g3 absent}, run g1 > x > g2: nDCG@10 = (1 + 1/log2 4) / (1 + 1/log2 3 + 1/log2 4)
    = 0.7039, as mteb, BRIGHT and pytrec_eval compute it (it was 1.000 when g2 and g3 were dropped)."""
    import math

    import pytrec_eval

    from harness.runner import RunOptions, evaluate

    repo = write_repo(tmp_path / "judged-empty-absent", {
        "corpus": {"corpus": [{"_id": "g1", "title": "", "text": "bees make honey"}, {"_id": "g2", "title": "", "text": ""},
                              {"_id": "x", "title": "", "text": "wasps"}]},
        "queries": {"queries": [{"_id": "q", "text": "honey bees"}]},
        "default": {"test": [{"query-id": "q", "corpus-id": d, "score": 1} for d in ("g1", "g2", "g3")]},
    })
    task = REGISTRY["scifact"].load(folder=repo)
    assert task.qrels == {"q": {"g1": 1, "g2": 1, "g3": 1}} and "g2" in task.corpus
    assert task.meta["warnings"] == [f"{repo}: 1 judged document(s) are empty and 1 are not in the corpus (e.g. 'g2'); they stay in "
                                     "the qrels, as mteb, BRIGHT and pytrec_eval count them (an empty document can still be "
                                     "retrieved, an absent one never is)."]
    result, run = evaluate(Stub({("q", "g1"): 3.0, ("q", "x"): 2.0, ("q", "g2"): 1.0}), task, RunOptions(show_progress=False))
    by_hand = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    reference = pytrec_eval.RelevanceEvaluator(task.qrels, {"ndcg_cut_10"}).evaluate(run)["q"]["ndcg_cut_10"]
    assert result["metrics"]["nDCG@10"] == pytest.approx(by_hand) == pytest.approx(reference) == pytest.approx(0.7039, abs=1e-4)
    assert result["task"]["warnings"] == task.meta["warnings"]
    back = roundtrip(task, tmp_path)  # an export keeps them too, and reads back with the same warning
    assert back.meta["warnings"][0].endswith("(an empty document can still be retrieved, an absent one never is).")


@pytest.mark.parametrize("fields", [{"family": "instructir"}, {"family": "instructir", "main": "Robustness@10"}])
def test_a_local_task_file_names_its_family_and_gets_its_scorer(tmp_path, scifact, fields):
    """`ifir_task.json` with `family` (and maybe `main`) but no `scorer`: Robustness@10 is computed and is
    the main score (it crashed with KeyError, or silently left Robustness@10 out)."""
    import json

    from harness.runner import RunOptions, evaluate

    instructions = ["From a randomized trial.", "A review article."]
    queries = {f"{q}_{n}": (scifact.queries[q].text, inst) for q in scifact.queries for n, inst in enumerate(instructions)}
    folder = tmp_path / "instructir-copy"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus_rows(scifact)))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t, "instruction": i}) + "\n" for q, (t, i) in queries.items()))
    (folder / "qrels" / "test.tsv").write_text("".join(f"{q}_{n}\t{d}\t1\n" for q, docs in scifact.qrels.items() for n in range(2) for d in docs))
    (folder / "ifir_task.json").write_text(json.dumps({"source": "hand-made", "revision": "1", **fields}))
    task = load_task(str(folder))
    assert (task.family, task.scorer, task.main_measure) == ("instructir", "instructir", "Robustness@10")
    result, _ = evaluate(Stub(), task, RunOptions(show_progress=False))
    per_query = result["per_query"]["nDCG@10"]
    minima = {base: min(v for q, v in per_query.items() if q.split("_")[0] == base) for base in scifact.queries}
    assert result["main_score"] == result["metrics"]["Robustness@10"] == pytest.approx(sum(minima.values()) / len(minima))


def test_a_local_task_file_with_an_unknown_family_or_main_score_is_refused(tmp_path, sample):
    import json
    import shutil

    folder = tmp_path / "s"
    shutil.copytree(sample_dir(), folder)
    for fields, message in (({"family": "folowir"}, "unknown family 'folowir'"),
                            ({"family": "followir", "main": "nDCG@10"}, "main score 'nDCG@10' is neither one of the measures")):
        (folder / "ifir_task.json").write_text(json.dumps({"source": "x", "revision": "1", **fields}))
        with pytest.raises(IfirError, match=message):
            load_local(folder)
