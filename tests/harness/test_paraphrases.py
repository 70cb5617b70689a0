"""Prompt robustness (`--paraphrases`): what a paraphrase replaces, the corpus encoded once, the
spread recomputed independently (numpy, and a plain run per paraphrase), and the CLI."""

import json
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import IfirError
from harness.models.protocols import ModelMeta
from harness.paraphrases import DEFAULT, load_paraphrases, with_paraphrase
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task


class Counting:
    """Wraps an encoder and counts the texts it is asked to encode, per kind."""

    def __init__(self, encoder):
        self.encoder, self.meta, self.seen = encoder, encoder.meta, Counter()

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        self.seen[kind] += len(texts)
        return self.encoder.encode(texts, kind=kind, batch_size=batch_size, show_progress=show_progress)


class Hashing:
    """A tiny deterministic bag-of-words encoder, so the CLI test costs no model."""

    def __init__(self):
        self.meta = ModelMeta(name="hashing-bow", revision="1", kind="encoder")

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(map(ord, word)) % 64] += 1.0
        return out + 1e-3


def test_a_paraphrase_fills_an_empty_instruction_and_prefixes_a_present_one(shared_data):
    sample = load_task("sample")
    q = next(iter(sample.queries.values()))
    assert with_paraphrase(sample, "P.").queries[q.id].instruction == f"P. {q.instruction}"
    assert with_paraphrase(sample, "P.").queries[q.id].text == q.text
    sci = load_task(str(shared_data / "scifact"))
    assert all(v.instruction == "P." for v in with_paraphrase(sci, "P.").queries.values())


def test_paraphrase_files(tmp_path):
    assert load_paraphrases("default") == ("default", DEFAULT) and len(DEFAULT) >= 5
    (tmp_path / "p.txt").write_text("Find it.\n\n  Get the relevant ones.  \n")
    assert load_paraphrases(str(tmp_path / "p.txt"))[1] == ["Find it.", "Get the relevant ones."]
    (tmp_path / "p.jsonl").write_text('{"paraphrase": "A"}\n{"text": "B"}\n')
    assert load_paraphrases(str(tmp_path / "p.jsonl"))[1] == ["A", "B"]
    (tmp_path / "bad.jsonl").write_text('{"paraphrase": "A"}\n{"other": 1}\n')
    with pytest.raises(IfirError, match=r"bad\.jsonl:2: "):
        load_paraphrases(str(tmp_path / "bad.jsonl"))
    with pytest.raises(IfirError, match="neither a packaged set"):
        load_paraphrases("no-such-set")


def test_minilm_on_sample_under_paraphrases(minilm, tmp_path):
    """Each value equals a plain run of the task rewritten by hand; the spread equals numpy's; the
    corpus is encoded once for the run and all paraphrases (here with no disk cache at all)."""
    task = load_task("sample")
    (tmp_path / "p.txt").write_text("Find documents that answer this query.\nWhich passages would someone asking this want to read?\n")
    model = Counting(minilm)
    options = RunOptions(use_cache=False, show_progress=False, paraphrases=str(tmp_path / "p.txt"))
    result, _ = evaluate(model, task, options)
    block = result["paraphrases"]
    assert block["n"] == 2 and block["measure"] == "p-MRR"
    distinct_docs = {minilm.meta.format_doc(d) for d in task.corpus.values()}
    assert model.seen["document"] == len(distinct_docs)
    for entry in block["values"]:
        by_hand = task.__class__(**{**task.__dict__, "queries": {
            q: v.__class__(v.id, v.text, f"{entry['paraphrase']} {v.instruction}") for q, v in task.queries.items()}})
        plain, _ = evaluate(minilm, by_hand, RunOptions(cache_dir=tmp_path / "cache", show_progress=False))
        assert entry["value"] == pytest.approx(plain["metrics"]["p-MRR"], abs=1e-12)
    values = np.array([v["value"] for v in block["values"]])
    assert block["mean"] == pytest.approx(values.mean())
    assert block["sd"] == pytest.approx(values.std(ddof=1))
    assert block["min"] == values.min()


def test_cli_prints_spread_and_result_file_holds_it(tmp_path):
    out = tmp_path / "results"
    args = ["run", "--model", "test_paraphrases:Hashing", "--tasks", "sample", "--paraphrases", "default",
            "--output", str(out), "--cache-dir", str(tmp_path / "cache")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    [path] = [p for p in out.rglob("sample.json")]
    block = json.loads(path.read_text())["paraphrases"]
    assert block["source"] == "default" and block["n"] == len(DEFAULT) and len(block["values"]) == len(DEFAULT)
    line = f"mean {100 * block['mean']:.2f}, sd {100 * block['sd']:.2f}, min {100 * block['min']:.2f}"
    assert line in " ".join(res.output.split())
    # another paraphrase file is never answered with the stored result
    (tmp_path / "one.txt").write_text("Only this one.\n")
    res = CliRunner().invoke(main, args[:6] + [str(tmp_path / "one.txt")] + args[7:])
    assert res.exit_code == 0, res.output
    assert json.loads(path.read_text())["paraphrases"]["n"] == 1


def test_bad_paraphrase_file_is_one_line_before_any_model_loads(tmp_path):
    (tmp_path / "p.jsonl").write_text("not json\n")
    res = CliRunner().invoke(main, ["run", "--model", "no-such-model", "--tasks", "sample", "--paraphrases", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 2 and "p.jsonl:1: not valid JSON" in " ".join(res.output.split())
