"""The typed records of a result file and a training card: a damaged file is one IfirError naming the
file and the field, an older schema version is read, and a real result file round-trips."""

import json
import math

import pytest

from harness.errors import IfirError
from harness.fileio import atomic_write_json
from harness.record import SCHEMA_VERSION, ResultRecord, TrainingCard
from harness.results import load_result, read_record


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    """A result file as the runner writes it: BM25 on the embedded sample task."""
    from harness.models import load_model
    from harness.runner import RunOptions, run_and_save
    from harness.tasks import load_task

    out = tmp_path_factory.mktemp("results")
    path, _, status = run_and_save(load_model("bm25"), load_task("sample"), RunOptions(output=out, use_cache=False, show_progress=False))
    assert status == "computed"
    return path


def card() -> dict:
    return {"schema_version": 2, "base_model": {"name": "minilm", "revision": "r1"},
            "data": {"source": "data/scifact", "split": "train", "budget": 64, "mix": "dual-view", "held_out": {"digest": "sha256:0"}},
            "llm": {"backend": "rules"}, "config": {"training": {"lr": 2e-5}}, "seed": 3, "seconds": 1.5}


def damaged(path, edit):
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    bad = path.with_name("damaged.json")
    bad.write_text(json.dumps(data), encoding="utf-8")
    return bad


def test_a_real_result_file_round_trips_byte_for_byte(result_file):
    text = result_file.read_text(encoding="utf-8")
    record = read_record(result_file)
    assert record.schema_version == SCHEMA_VERSION and record.identity is not None and record.variant == {}
    assert list(record.to_dict()) == list(json.loads(text)) and record.to_dict() == json.loads(text)
    assert ResultRecord.from_dict(record.to_dict(), path=result_file) == record
    copy = result_file.with_name("copy.json")
    atomic_write_json(copy, record.to_dict())  # as save_result writes a result
    assert copy.read_bytes() == result_file.read_bytes()


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.pop("per_query"), "missing field(s) per_query"),
    (lambda d: d.pop("identity"), "missing field(s) identity"),
    (lambda d: d["task"].update(name=5), "'task.name' is 5"),
    (lambda d: d["model"].update(revision=None), "'model.revision' is null"),
    (lambda d: d.update(provenance=[]), "'provenance' is not an object"),
    (lambda d: d["task"].update(measures="nDCG@10"), "'task.measures' is not a list"),
    (lambda d: d["metrics"]["og"].update({"nDCG@5": math.inf}), "metric 'og/nDCG@5' is Infinity, not a finite number"),
    (lambda d: d["metrics"].update({"p-MRR": "0.1"}), "metric 'p-MRR' is \"0.1\", not a finite number"),
    (lambda d: d.update(main_score=float("nan")), "'main_score' is NaN, not a finite number"),
    (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), f"schema_version {SCHEMA_VERSION + 1}, this ifir-bench reads"),
    (lambda d: d.update(variant="x"), "'variant' is \"x\", not an object"),
    (lambda d: d["model"].setdefault("extra", {}).update(training_card=dict(card(), seed="3")), "'model.extra.training_card.seed' is \"3\""),
    (lambda d: d["model"].setdefault("extra", {}).update(training_card=card() | {"data": {"mix": "dual-view"}}),
     "'model.extra.training_card.data.source' is null"),
])
def test_a_damaged_result_file_is_one_error_naming_the_file_and_the_field(result_file, edit, field):
    bad = damaged(result_file, edit)
    with pytest.raises(IfirError) as e:
        load_result(bad)
    assert str(e.value).startswith(f"{bad}: ") and field in str(e.value)


def test_a_version_1_file_is_read_without_identity_and_given_back_as_written(result_file):
    """Version 1 was written before a result recorded its identity and settings: they read as None,
    and the dict keeps version 1 (a copy of the file is what was written)."""
    def to_v1(d):
        d.update(schema_version=1)
        for key in ("identity", "identity_hash", "variant"):
            d.pop(key)

    old = damaged(result_file, to_v1)
    record = read_record(old)
    assert (record.schema_version, record.identity, record.identity_hash, record.variant) == (1, None, None, None)
    assert record.to_dict() == json.loads(old.read_text()) and list(record.to_dict()) == list(json.loads(old.read_text()))
    assert read_record(result_file).metrics == record.metrics


def test_training_card_round_trips_and_reads_version_1_without_held_out(tmp_path):
    path = tmp_path / "training_card.json"
    c = TrainingCard.from_dict(card(), path=path)
    assert (c.mix, c.budget, c.seed, c.source, c.base, c.held_out) == ("dual-view", 64, 3, "data/scifact", ("minilm", "r1"), {"digest": "sha256:0"})
    assert c.to_dict() == card() and list(c.to_dict()) == list(card())
    v1 = card() | {"schema_version": 1, "data": {k: v for k, v in card()["data"].items() if k != "held_out"}}
    assert TrainingCard.from_dict(v1, path=path).held_out is None
    with pytest.raises(IfirError, match=r"training_card.json: 'data.held_out' is not an object"):
        TrainingCard.from_dict(card() | {"data": v1["data"]}, path=path)
    with pytest.raises(IfirError, match=r"training_card.json: 'data.budget' is \"64\", not a whole number"):
        TrainingCard.from_dict(card() | {"data": card()["data"] | {"budget": "64"}}, path=path)
