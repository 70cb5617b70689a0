"""Local BEIR / FollowIR loading on the real shared collections; fingerprints in the style of
ir_datasets (counts, and the records at positions 0, 9 and last, read from the files by hand)."""

import json

import pytest

from harness.data.local import load_local, read_qrels
from harness.errors import IfirError
from harness.tasks import load_task, sample_dir


def test_scifact_counts_and_records(shared_data):
    task = load_local(shared_data / "scifact")
    assert task.kind == "retrieval"
    assert len(task.corpus) == 5183 and len(task.queries) == 300
    assert sum(len(v) for v in task.qrels.values()) == 339  # header row skipped, nothing else
    docs = list(task.corpus.values())
    first = json.loads((shared_data / "scifact" / "corpus.jsonl").open().readline())
    assert docs[0].id == first["_id"] and docs[0].title == first["title"]
    assert task.measures == ["nDCG@10", "R@100"]


def test_msmarco_qrels_have_no_header_and_keep_line_one(shared_data):
    path = shared_data / "msmarco-5k" / "qrels" / "test.tsv"
    first = path.open().readline().split("\t")
    qrels = read_qrels(path)
    assert sum(len(v) for v in qrels.values()) == 4102
    assert qrels[first[0]][first[1]] == int(first[2])
    assert max(r for d in qrels.values() for r in d.values()) == 3  # graded


def test_train_split_is_separate(shared_data):
    train = load_local(shared_data / "scifact", split="train")
    test = load_local(shared_data / "scifact")
    assert sum(len(v) for v in train.qrels.values()) == 919
    assert not set(train.queries) & set(test.queries)


def test_sample_is_detected_as_followir():
    task = load_task("sample")
    assert task.kind == "instruction-reranking"
    assert len(task.queries) == 24 and len(task.corpus) == 304
    assert all(q.endswith(("-og", "-changed")) for q in task.queries)
    assert task.queries["q01-og"].instruction and task.queries["q01-changed"].instruction
    assert task.queries["q01-og"].instruction != task.queries["q01-changed"].instruction
    # every changed doc is relevant under og and not under changed
    for qid, docs in task.changed_docs.items():
        for d in docs:
            assert task.qrels[f"{qid}-og"][d] == 1 and task.qrels[f"{qid}-changed"][d] == 0


def _copy_sample(tmp_path):
    import shutil

    dst = tmp_path / "t"
    shutil.copytree(sample_dir(), dst)
    return dst


def test_malformed_json_names_file_and_line(tmp_path):
    d = _copy_sample(tmp_path)
    lines = (d / "corpus.jsonl").read_text().splitlines()
    lines[6] = lines[6][:-5]
    (d / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(IfirError, match=r"corpus\.jsonl:7: not valid JSON"):
        load_local(d)


def test_duplicate_ids_empty_texts_and_unknown_docs(tmp_path):
    d = _copy_sample(tmp_path)
    corpus = (d / "corpus.jsonl").read_text().splitlines()
    (d / "corpus.jsonl").write_text("\n".join(corpus + [corpus[0]]) + "\n")
    with pytest.raises(IfirError, match=rf"corpus\.jsonl:{len(corpus) + 1}: duplicate document id"):
        load_local(d)
    (d / "corpus.jsonl").write_text("\n".join(corpus + ['{"_id": "new", "title": "", "text": "  "}']) + "\n")
    with pytest.raises(IfirError, match="empty title and text"):
        load_local(d)
    (d / "corpus.jsonl").write_text("\n".join(corpus[1:]) + "\n")
    with pytest.raises(IfirError, match="not in the corpus"):
        load_local(d)


def test_bad_qrels_line_and_missing_split(tmp_path):
    d = _copy_sample(tmp_path)
    with (d / "qrels" / "test.tsv").open("a") as f:
        f.write("q01-og\td01-1\tyes\n")
    n = len((d / "qrels" / "test.tsv").read_text().splitlines())
    with pytest.raises(IfirError, match=rf"test\.tsv:{n}: relevance 'yes' is not a number"):
        load_local(d)
    with pytest.raises(IfirError, match="dev.tsv is missing .*splits here: test"):
        load_local(d, split="dev")


def test_unknown_task_suggests_near_matches():
    with pytest.raises(IfirError, match="Did you mean 'scifact'"):
        load_task("scifakt")


def test_export_round_trip(tmp_path):
    from harness.data.export import export_task

    task = load_task("sample")
    out = export_task(task, tmp_path / "exported")
    again = load_local(out)
    assert again.name == "sample"
    assert again.corpus == task.corpus and again.queries == task.queries and again.qrels == task.qrels
    assert again.candidates == task.candidates and again.changed_docs == task.changed_docs
    assert again.meta["exported_from"].endswith(task.revision)
