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


# ir_datasets-style fingerprints: judgement count, then the records at positions 0, 9 and last,
# read from the files with awk (header row and blank lines left out), not from this loader.
QRELS_FINGERPRINTS = {
    "scifact/qrels/test.tsv": (339, ("1", "31715818", 1), ("50", "12580014", 1), ("1395", "17717391", 1)),
    "scifact/qrels/train.tsv": (919, ("0", "31715818", 1), ("15", "22080671", 1), ("1407", "29863668", 1)),
    "negconstraint/qrels/test.tsv": (198, ("0", "10000", 1), ("9", "10054", 1), ("197", "10713", 1)),
    "msmarco-5k/qrels/test.tsv": (4102, ("19335", "1720389", 1), ("19335", "527692", 1), ("1133167", "8839922", 2)),
}


@pytest.mark.parametrize("name", sorted(QRELS_FINGERPRINTS))
def test_qrels_fingerprints(shared_data, name):
    """A header (scifact, negconstraint; CRLF in negconstraint) is skipped by its text; msmarco-5k's
    headerless first line is kept."""
    count, first, tenth, last = QRELS_FINGERPRINTS[name]
    qrels = read_qrels(shared_data / name)
    flat = [(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()]
    assert (len(flat), flat[0], flat[9], flat[-1]) == (count, first, tenth, last)


@pytest.mark.parametrize("header", ["query-id\tcorpus-id\tscore", "qid\tdocid\trel", "query_id doc_id relevance",
                                    "\ufeffquery-id\tcorpus-id\tscore", "qid iter docid rel"])
def test_qrels_header_is_recognised_by_its_text(tmp_path, header):
    path = tmp_path / "q.tsv"
    rows = "q1\t0\td1\t2\n" if header.endswith("iter docid rel") else "q1\td1\t2\n"
    path.write_text(f"{header}\n{rows}", encoding="utf-8")
    assert read_qrels(path) == {"q1": {"d1": 2}}


def test_trec_qrels_by_whitespace_and_whole_number_grades(tmp_path):
    path = tmp_path / "q.trec"
    path.write_text("301 0 FBIS3-10082 1\n301 0 FBIS3-10169 0 \n302 Q0 LA010189-0001 -1\n303 0 d9 2.0\t\n")
    assert read_qrels(path) == {"301": {"FBIS3-10082": 1, "FBIS3-10169": 0}, "302": {"LA010189-0001": -1}, "303": {"d9": 2}}


@pytest.mark.parametrize("grade", ["0.5", "2.7", "nan", "yes", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("first", [True, False])
def test_qrels_grade_that_is_not_a_whole_number_is_an_error(tmp_path, grade, first):
    """Never dropped as a 'header', never rounded, never an OverflowError."""
    path = tmp_path / "q.tsv"
    rows = ["q1\td1\t1", f"q2\td2\t{grade}"]
    path.write_text("\n".join(reversed(rows) if first else rows) + "\n")
    line = 1 if first else 2
    with pytest.raises(IfirError) as e:
        read_qrels(path)
    assert str(e.value) == f"{path}:{line}: relevance grade '{grade}' is not a whole number (grades are 0, 1, 2, ...)."


def test_qrels_row_without_a_grade(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("q1\td1\t1\nq2\td2\t\n")
    with pytest.raises(IfirError) as e:
        read_qrels(path)
    assert str(e.value) == f"{path}:2: expected 3 tab-separated columns (query-id, corpus-id, score), got 2."


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
    with pytest.raises(IfirError, match=rf"test\.tsv:{n}: relevance grade 'yes' is not a whole number"):
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


def test_instruction_field_type_and_empty_candidate_list(tmp_path):
    d = _copy_sample(tmp_path)
    queries = (d / "queries.jsonl").read_text().splitlines()
    (d / "queries.jsonl").write_text("\n".join([queries[0][:-1] + ', "instruction": 5}'] + queries[1:]) + "\n")
    with pytest.raises(IfirError, match=r"queries\.jsonl:1: field 'instruction' should be str, got int\.$"):
        load_local(d)
    (d / "queries.jsonl").write_text("\n".join(queries) + "\n")
    top = (d / "top_ranked.jsonl").read_text().splitlines()
    (d / "top_ranked.jsonl").write_text("\n".join(['{"query-id": "q01-og", "corpus-ids": []}'] + top[1:]) + "\n")
    with pytest.raises(IfirError, match=r"top_ranked\.jsonl: no candidates for query 'q01-og' \(1 queries lack them\)\.$"):
        load_local(d)
