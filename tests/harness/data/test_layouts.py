"""Hub loaders, exercised offline on local copies in each repo's format (README `configs:` YAML +
JSON Lines), read through `datasets` exactly as a downloaded snapshot is. Each copy is written
from a collection loaded independently by the BEIR/FollowIR directory reader, and must load back
to the same task."""

import json
import time

import pytest

from harness.data.local import load_local
from harness.errors import IfirError
from harness.tasks import REGISTRY, TaskSpec, detect_layout, load_task, sample_dir


def write_repo(root, configs: dict[str, dict[str, list[dict]]]):
    """configs: name -> split -> rows. Writes data files and the README that declares them."""
    yaml = ["---", "configs:"]
    for name, splits in configs.items():
        yaml += [f"- config_name: {name}", "  data_files:"]
        for split, rows in splits.items():
            path = f"{name}/{split}.jsonl"
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / path).write_text("".join(json.dumps(r) + "\n" for r in rows))
            yaml += [f"  - split: {split}", f"    path: {path}"]
    (root / "README.md").write_text("\n".join(yaml + ["---", "", "test copy"]) + "\n")
    return root


@pytest.fixture(scope="module")
def sample():
    return load_local(sample_dir())


def corpus_rows(task, title=True):
    return [{"_id": d.id, **({"title": d.title} if title else {}), "text": d.text} for d in task.corpus.values()]


def test_mteb_v2_followir_layout(tmp_path, sample):
    repo = write_repo(tmp_path, {
        "corpus": {"corpus": corpus_rows(sample)},
        "queries": {"queries": [{"_id": q.id, "text": q.text} for q in sample.queries.values()]},
        "instruction": {"instruction": [{"query-id": q.id, "instruction": q.instruction} for q in sample.queries.values()]},
        "default": {"test": [{"query-id": q, "corpus-id": d, "score": float(r)} for q, ds in sample.qrels.items() for d, r in ds.items()]},
        "top_ranked": {"top_ranked": [{"query-id": q, "corpus-ids": c} for q, c in sample.candidates.items()]},
        "qrel_diff": {"qrel_diff": [{"query-id": q, "corpus-ids": c} for q, c in sample.changed_docs.items()]},
    })
    assert detect_layout(str(repo)) == "mteb"
    task = REGISTRY["core17"].load(folder=repo)
    assert task.kind == "instruction-reranking" and task.measures == ["AP@1000", "nDCG@5"]
    assert task.source == "mteb/Core17InstructionRetrieval"
    assert task.revision.endswith("67d8733dd0691f08f34ed9dda5941578cba8d91c")
    assert task.corpus == sample.corpus and task.queries == sample.queries and task.qrels == sample.qrels
    assert task.candidates == sample.candidates and task.changed_docs == sample.changed_docs


def test_followir_v1_layout(tmp_path, sample):
    base = sorted({q.rsplit("-", 1)[0] for q in sample.queries})
    repo = write_repo(tmp_path, {
        "corpus": {"corpus": corpus_rows(sample)},
        "queries": {"queries": [
            {"_id": b, "text": sample.queries[f"{b}-og"].text, "instruction_og": sample.queries[f"{b}-og"].instruction,
             "instruction_changed": sample.queries[f"{b}-changed"].instruction, "keywords": "", "short_query": ""}
            for b in base]},
        "qrels_og": {"test": [{"query-id": b, "corpus-id": d, "score": r} for b in base for d, r in sample.qrels[f"{b}-og"].items()]},
        "qrels_changed": {"test": [{"query-id": b, "corpus-id": d, "score": r} for b in base for d, r in sample.qrels[f"{b}-changed"].items()]},
        "top_ranked": {"top_ranked": [{"qid": b, "pid": d} for b in base for d in sample.candidates[f"{b}-og"]]},
    })
    assert detect_layout(str(repo)) == "followir-v1"
    task = REGISTRY["robust04-v1"].load(folder=repo)
    assert task.queries == sample.queries and task.qrels == sample.qrels and task.candidates == sample.candidates
    # the v1 layout has no qrel_diff: it is derived as the documents whose judgement changed
    assert {q: sorted(d) for q, d in task.changed_docs.items()} == {q: sorted(d) for q, d in sample.changed_docs.items()}


def test_beir_and_nanobeir_layouts(tmp_path, shared_data):
    sci = load_local(shared_data / "scifact")
    keep = sorted(sci.qrels)[:20]
    docs = {d for q in keep for d in sci.qrels[q]} | set(list(sci.corpus)[:200])
    sci.corpus = {d: v for d, v in sci.corpus.items() if d in docs}
    qrel_rows = [{"query-id": q, "corpus-id": d, "score": r} for q in keep for d, r in sci.qrels[q].items()]
    beir = write_repo(tmp_path / "beir", {
        "corpus": {"corpus": corpus_rows(sci)},
        "queries": {"queries": [{"_id": q, "text": sci.queries[q].text} for q in keep] + [{"_id": "train-only", "text": "x"}]},
        "default": {"test": qrel_rows, "train": [{"query-id": "train-only", "corpus-id": next(iter(docs)), "score": 1}]},
    })
    task = REGISTRY["scifact"].load(folder=beir)
    assert task.kind == "retrieval" and set(task.queries) == set(keep)
    assert task.qrels == {q: sci.qrels[q] for q in keep}

    nano = write_repo(tmp_path / "NanoSciFact", {
        "corpus": {"train": corpus_rows(sci, title=False)},
        "queries": {"train": [{"_id": q, "text": sci.queries[q].text} for q in keep]},
        "qrels": {"train": [{"query-id": r["query-id"], "corpus-id": r["corpus-id"]} for r in qrel_rows]},
    })
    assert detect_layout(str(nano)) == "nanobeir"
    task = REGISTRY["nano-scifact"].load(folder=nano)
    assert task.split == "train" and set(task.queries) == set(keep)
    assert all(r == 1 for d in task.qrels.values() for r in d.values())
    assert all(d.title == "" for d in task.corpus.values())


def test_missing_hub_data_offline_is_one_clear_sentence_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    t0 = time.monotonic()
    with pytest.raises(IfirError) as e:
        load_task("news21")
    assert time.monotonic() - t0 < 10
    msg = str(e.value)
    assert "mteb/News21InstructionRetrieval" in msg and "ifir-bench data export news21 DIR" in msg
    assert "\n" not in msg


def test_unpinned_spec_records_local_copy(tmp_path, sample):
    spec = TaskSpec("mine", "me/mine", None)
    repo = write_repo(tmp_path, {
        "corpus": {"corpus": corpus_rows(sample)},
        "queries": {"queries": [{"_id": q.id, "text": q.text} for q in sample.queries.values() if q.id.endswith("-og")]},
        "qrels": {"test": [{"query-id": q, "corpus-id": d, "score": r} for q, ds in sample.qrels.items() if q.endswith("-og") for d, r in ds.items()]},
    })
    task = spec.load(folder=repo)
    assert task.kind == "retrieval" and task.revision == "local-copy-of:me/mine@main"
