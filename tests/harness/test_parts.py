"""Corpus parts (`ifir-bench encode --part K/N`): each part encodes its block of whole batches into its own
store folder, and a run over the parts gives the run one process gives (the outside reference here);
missing, incomplete, damaged or mismatched parts are named, with the command that makes them, before
anything is searched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import IfirError
from harness.results import run_path
from harness.runner import RunOptions, encode_part, evaluate, run_and_save

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_task(shared_data):
    """msmarco-5k with its first 96 passages (three batches of 32) and all its queries: real text, seconds to encode."""
    from harness.data.local import load_local

    task = load_local(shared_data / "msmarco-5k")
    return replace(task, corpus=dict(list(task.corpus.items())[:96]))


def part_folders(cache: Path) -> list[Path]:
    return sorted(cache.glob("embeddings/*/*/part-*-of-*"))


def test_parts_tile_the_store_and_are_searched_as_one(minilm, small_task, tmp_path):
    """Three parts (one document batch each) give the vectors and the run that one process gives, and
    the run over them encodes nothing."""
    parts = RunOptions(cache_dir=tmp_path / "parts", show_progress=False)
    done = {k: encode_part(minilm, small_task, parts, (k, 3)) for k in (3, 1, 2)}
    assert [(done[k][0]["start"], done[k][0]["end"]) for k in (1, 2, 3)] == [(0, 32), (32, 64), (64, 96)]
    queries = [(done[k][1]["start"], done[k][1]["end"]) for k in (1, 2, 3)]  # whole batches of 32, the last one short
    assert queries[0][0] == 0 and queries[0][1] == queries[1][0] and queries[1][1] == queries[2][0]
    assert queries[2][1] == done[1][1]["rows"] and all(start % 32 == 0 for start, _ in queries)
    whole, reference = evaluate(minilm, small_task, RunOptions(cache_dir=tmp_path / "whole", show_progress=False))
    result, run = evaluate(minilm, small_task, parts)
    assert run == reference and result["metrics"] == whole["metrics"]
    assert result["provenance"]["work"]["texts_encoded"] == 0 and result["provenance"]["work"]["texts_cached"] == 96 + done[1][1]["rows"]
    (single,) = [p for p in (tmp_path / "whole").glob("embeddings/*/*/vectors.f32") if p.stat().st_size == 96 * 384 * 4]
    store = tmp_path / "parts" / single.relative_to(tmp_path / "whole").parent  # same model key and text set
    joined = b"".join((store / f"part-{k}-of-3" / "vectors.f32").read_bytes() for k in (1, 2, 3))
    assert joined == single.read_bytes()


def test_missing_damaged_and_mismatched_parts_are_named_before_any_search(minilm, small_task, tmp_path):
    options = RunOptions(cache_dir=tmp_path / "cache", output=tmp_path / "out", show_progress=False)
    encode_part(minilm, small_task, options, (1, 3))
    encode_part(minilm, small_task, options, (3, 3))
    with pytest.raises(IfirError) as e:
        run_and_save(minilm, small_task, options)
    message = str(e.value)
    assert "the embedding parts of 96 documents of msmarco-5k" in message and "(part 2/3 is missing)" in message
    assert "`ifir-bench encode --model minilm --tasks msmarco-5k --part 2/3 --batch-size 32 --cache-dir" in message
    assert "nothing was searched" in message and not list((tmp_path / "out").rglob("*.trec"))

    encode_part(minilm, small_task, options, (2, 3))
    _, _, status = run_and_save(minilm, small_task, options)
    assert status == "computed"

    (vectors,) = [p for p in part_folders(tmp_path / "cache")
                  if p.name == "part-2-of-3" and json.loads((p / "manifest.json").read_text())["about"]["kind"] == "document"]
    with open(vectors / "vectors.f32", "r+b") as f:  # one float of the last row changed: its CRC no longer matches
        f.seek(-4, os.SEEK_END)
        f.write(b"\0\0\0\0")
    with pytest.raises(IfirError, match=r"part 2/3 is damaged \(0 of 32 rows intact\)"):
        evaluate(minilm, small_task, options)
    done = encode_part(minilm, small_task, options, (2, 3))  # the same command re-encodes the damaged shard
    assert (done[0]["already"], done[0]["encoded"]) == (0, 32) and (done[1]["already"], done[1]["encoded"]) == (32, 0)
    evaluate(minilm, small_task, options)

    encode_part(minilm, small_task, replace(options, batch_size=16), (2, 3))  # other bounds: the parts no longer tile
    with pytest.raises(IfirError, match=r"part 2/3 is made for other bounds \(batch size 16, not 32"):
        evaluate(minilm, small_task, options)
    done = encode_part(minilm, small_task, options, (2, 3))  # made again with the set's batch size
    assert done[0]["encoded"] == 32
    evaluate(minilm, small_task, options)


def test_parts_of_another_model_identity_are_refused(minilm, small_task, tmp_path):
    """Parts made with another query prompt are another identity: the run says so instead of quietly
    encoding the whole corpus in the search job."""
    from harness.models import load_model

    prompted = load_model("minilm", query_prompt="query: ")
    options = RunOptions(cache_dir=tmp_path / "cache", show_progress=False)
    for k in (1, 2, 3):
        encode_part(prompted, small_task, options, (k, 3))
    with pytest.raises(IfirError, match=r"the embedding parts of 96 documents were made under another model identity"):
        evaluate(minilm, small_task, options)


def test_only_dense_encoders_have_parts(small_task, tmp_path):
    from harness.models import load_model

    with pytest.raises(IfirError, match="--part encodes the vectors of a dense encoder; 'bm25' is not one"):
        encode_part(load_model("bm25"), small_task, RunOptions(cache_dir=tmp_path), (1, 2))


def test_encode_command_refuses_bad_input_in_one_line(tmp_path):
    from click.testing import CliRunner

    from harness.cli import main

    def encode(*args):
        return CliRunner().invoke(main, ["encode", "--tasks", "sample", "--cache-dir", str(tmp_path), *args], env={"COLUMNS": "200"})

    result = encode("--model", "bm25", "--part", "1/2")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--part encodes the vectors of a dense encoder; 'bm25' is not one" in result.output
    result = encode("--model", "minilm", "--part", "3/2")
    assert result.exit_code == 2 and "'3/2': use K/N with 1 <= K <= N" in result.output and "Traceback" not in result.output


def cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "400"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def finished(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate()
    return proc.returncode, out


@pytest.mark.slow
def test_three_concurrent_parts_of_msmarco_give_the_single_process_run_byte_for_byte(shared_data, tmp_path):
    """msmarco-5k (5,000 passages, 43 judged queries) encoded as 3 parts by 3 processes at once, one of them
    killed after its first commit and resumed; the run over the parts is the file one process writes."""
    corpus, parts, single = str(shared_data / "msmarco-5k"), tmp_path / "parts", tmp_path / "single"
    common = ["--model", "minilm", "--tasks", corpus, "--batch-size", "32"]
    encoders = {k: cli("encode", *common, "--part", f"{k}/3", "--cache-dir", str(parts)) for k in (1, 2, 3)}
    manifest = None
    while manifest is None or not manifest.get("shards"):  # part 2's first commit (every 10 s)
        time.sleep(0.5)
        assert encoders[2].poll() is None, finished(encoders[2])[1]
        found = [p for p in parts.glob("embeddings/*/*/part-2-of-3/manifest.json") if json.loads(p.read_text())["rows"] > 1000]
        manifest = json.loads(found[0].read_text()) if found else None
    encoders[2].send_signal(signal.SIGKILL)
    assert finished(encoders[2])[0] == -signal.SIGKILL
    for k in (1, 3):
        rc, out = finished(encoders[k])
        assert rc == 0, out

    rc, out = finished(cli("run", *common, "--cache-dir", str(parts), "--output", str(tmp_path / "early")))
    assert rc != 0 and "part 2/3 is incomplete" in out and "--part 2/3" in out, out
    (killed,) = [p for p in part_folders(parts) if p.name == "part-2-of-3" and json.loads((p / "manifest.json").read_text())["rows"] > 1000]
    shutil.move(killed, tmp_path / "aside")
    rc, out = finished(cli("run", *common, "--cache-dir", str(parts), "--output", str(tmp_path / "early")))
    assert rc != 0 and "(part 2/3 is missing)" in out, out
    assert not list((tmp_path / "early").rglob("*.trec"))  # reported before any search
    shutil.move(tmp_path / "aside", killed)

    committed = json.loads((killed / "manifest.json").read_text())["shards"][-1]["end"]
    rc, out = finished(cli("encode", *common, "--part", "2/3", "--cache-dir", str(parts)))
    assert rc == 0 and f"encoded now, {committed} already there" in out, out

    runs = {}
    for name, cache in (("parts", parts), ("single", single)):  # the single process encodes everything itself
        rc, out = finished(cli("run", *common, "--cache-dir", str(cache), "--output", str(tmp_path / f"out-{name}")))
        assert rc == 0, out
        (result,) = (tmp_path / f"out-{name}").rglob("*.json")
        runs[name] = run_path(result).read_bytes()
        encoded = json.loads(result.read_text())["provenance"]["work"]["texts_encoded"]
        assert encoded == 0 if name == "parts" else encoded >= 5000
    from harness.data.local import load_local

    assert runs["parts"] == runs["single"]
    assert runs["parts"].count(b"\n") == 1000 * len(load_local(shared_data / "msmarco-5k").queries)  # 43 judged queries
