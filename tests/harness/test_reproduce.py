"""Reproductions as data: the conditions file is checked, figures are compared within half a unit of
the source's last digit, and `ifir-bench reproduce` runs a condition end to end and reports it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import IfirError
from harness.reproduce import CONDITIONS_FILE, Condition, check, load_conditions, page, selected


def test_the_shipped_conditions_load_and_name_their_sources():
    conditions = load_conditions()
    ids = [c.id for c in conditions]
    assert len(ids) == len(set(ids)) and all(c.source for c in conditions)
    published = {c.id: c.expected for c in conditions if c.kind == "published"}
    # the figures of ../shared/data/README.md (Anserini's regression, MTEB's results)
    assert published["bm25-scifact"] == {"nDCG@10": 0.6789, "R@100": 0.9253, "R@1000": 0.9767}
    assert published["minilm-scifact"] == {"nDCG@10": 0.645, "R@100": 0.925}
    assert {c.id for c in selected(conditions, everything=False, only=[])} == {c.id for c in conditions if c.cost == "seconds"}


def test_tolerance_is_half_a_unit_of_the_last_digit_the_source_gives():
    c = Condition("x", "published", "m", {"nDCG@10": 0.645, "p-MRR": -0.079, "og/nDCG@5": 0.9769}, "hand")
    metrics = {"nDCG@10": 0.6454, "p-MRR": -0.0796, "og": {"nDCG@5": 0.97694}}
    assert [(k.measure, k.status) for k in check(c, metrics)] == [("nDCG@10", "ok"), ("p-MRR", "off"), ("og/nDCG@5", "ok")]
    assert [k.status for k in check(c, {"nDCG@10": 0.6456})] == ["off", "not run", "not run"]
    assert check(c, {"nDCG@10": 0.6456})[0].diff == pytest.approx(0.0006)


@pytest.mark.parametrize("body, message", [
    ('[[condition]]\nid = "a"\nkind = "published"\nmodel = "bm25"\ntask = "scifact"\nsource = "s"\nexpected = { "nDCG@10" = "high" }\n',
     r"condition 1 \(a\): 'expected' must map measures to finite numbers"),
    ('[[condition]]\nid = "a"\nkind = "guess"\nmodel = "bm25"\ntask = "scifact"\nsource = "s"\nexpected = { "nDCG@10" = 0.5 }\n',
     r"kind 'guess' is not one of published, regression"),
    ('[[condition]]\nid = "a"\nkind = "published"\nmodel = "bm25"\ntask = "scifact"\nsource = "s"\nexpected = { "nDCG@10" = 0.5 }\nseed = 1\n',
     r"unknown field\(s\) seed"),
    ('[[condition]]\nid = "a"\nkind = "published"\nmodel = "bm25"\ntask = "scifact"\nsource = "s"\nexpected = { "nDCG@10" = 0.5 }\n' * 2,
     r"condition 2 \(a\): the id 'a' is used twice"),
    ('[[condition]\n', r"conditions.toml: "),
])
def test_a_bad_conditions_file_is_named_with_the_condition(tmp_path, body, message):
    path = tmp_path / "conditions.toml"
    path.write_text(body)
    with pytest.raises(IfirError, match=message):
        load_conditions(path)


def test_reproduce_runs_a_condition_and_reports_off_by_how_much(shared_data, tmp_path):
    """Lucene BM25 on SciFact against Anserini's published regression (0.6789 / 0.9253 / 0.9767), then a
    file of our own that expects 0.6889: reported off by -0.0100, exit status 1, the page says so."""
    runner = CliRunner()
    args = ["--data", str(shared_data), "--output", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    res = runner.invoke(main, ["reproduce", "--only", "bm25-scifact", *args])
    assert res.exit_code == 0, res.output
    assert "3 ok, 0 off, 0 not run (1 conditions)" in res.output
    wrong = tmp_path / "mine.toml"
    wrong.write_text('[[condition]]\nid = "bm25-too-high"\nkind = "regression"\nmodel = "bm25"\nlocal = "scifact"\n'
                     'source = "a wrong figure"\nexpected = { "nDCG@10" = 0.6889 }\n')
    res = runner.invoke(main, ["reproduce", "--conditions", str(wrong), "--page", str(tmp_path / "page.md"), *args])
    assert res.exit_code == 1 and "off by -0.0100" in res.output, res.output
    assert "| bm25-too-high | regression | bm25 | scifact | nDCG@10 | 0.6889 | 0.6789 | -0.0100 | off |" in (tmp_path / "page.md").read_text()


def test_a_condition_whose_data_is_missing_is_not_run_and_says_why(tmp_path):
    c = Condition("gone", "regression", "bm25", {"nDCG@10": 0.5}, "hand", local="no-such-folder")
    from harness.reproduce import run_condition

    outcome = run_condition(c, data=tmp_path, output=tmp_path / "r")
    assert [k.status for k in outcome.checks] == ["not run"] and "no-such-folder" in outcome.note
    assert "| gone | regression | bm25 | no-such-folder | nDCG@10 | 0.5000 |  |  | not run |" in page([c], {"gone": outcome})
    assert "- `gone`: needs the folder" in page([c], {"gone": outcome})


def test_reproduce_reports_a_condition_it_cannot_run_in_one_line(tmp_path):
    """A condition whose folder is absent and one whose hub task is not cached offline: each is one
    'not run' row with the reason, beside a condition that runs; exit status 0 (nothing is off)."""
    mine = tmp_path / "mine.toml"
    mine.write_text('[[condition]]\nid = "gone"\nkind = "regression"\nmodel = "bm25"\nlocal = "no-such-folder"\n'
                    'source = "s"\nexpected = { "nDCG@10" = 0.5 }\n'
                    '[[condition]]\nid = "hub"\nkind = "published"\nmodel = "bm25"\ntask = "robust04"\n'
                    'source = "s"\nexpected = { "p-MRR" = -0.079 }\n'
                    '[[condition]]\nid = "bm25-sample"\nkind = "regression"\nmodel = "bm25"\ntask = "sample"\n'
                    'source = "s"\nexpected = { "p-MRR" = -0.0811 }\n')
    res = CliRunner().invoke(main, ["reproduce", "--all", "--conditions", str(mine), "--data", str(tmp_path),
                                    "--output", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0 and res.exception is None, res.output
    text = " ".join(res.output.split())
    assert "1 ok, 0 off, 2 not run (3 conditions)" in text
    assert "not run: needs the folder" in text and "not run: Dataset 'mteb/Robust04InstructionRetrieval'" in text


def test_the_conditions_file_ships_with_the_package():
    assert CONDITIONS_FILE.is_file() and CONDITIONS_FILE.name == "reproductions.toml"
