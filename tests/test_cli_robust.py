"""Bad input fed through the CLI (click's runner at 80 columns): one exact message, exit status 2,
nothing computed before lost (issues 12 and 13)."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from rich.table import Table

from harness.cli import main
from harness.console import console, error, say, warning
from harness.progress import progress
from harness.tasks import sample_dir

TRICKY = ["[x]data", "bm25[k1]", "'ifir-bench[bm25]'", "a[/x]b", "[bold]x[/]", ":smile:"]


def cli(*args, **env):
    """Run `ifir-bench ARGS` in-process at 80 columns; return click's Result."""
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "HF_HUB_OFFLINE": "1", **env}, catch_exceptions=False)


def copy_sample(dst):
    shutil.copytree(sample_dir(), dst)
    return dst


def test_console_prints_every_string_literally(capsys):
    """Markup, emoji codes and closing tags in user text are shown as written, through every helper."""
    for text in TRICKY:
        say(text)
        error(text)
        warning(text)
        with console.status(text):
            pass
        with progress() as bar:
            bar.add_task(text, total=1)
        table = Table(title=text)
        table.add_column(text)
        table.add_row(text)
        console.print(table)
        err = capsys.readouterr().err
        assert err.count(text) >= 6, (text, err)
        assert f"error: {text}\n" in err and f"warning: {text}\n" in err


def test_model_spec_with_brackets_is_echoed_literally(tmp_path):
    result = cli("run", "--model", "bm25[k1]", "--tasks", "sample", "--output", str(tmp_path))
    assert result.exit_code == 2
    assert "error: Unknown model 'bm25[k1]': not a registered name" in result.output
    assert "Did you mean 'bm25'" in result.output


# --- runs through the CLI: a real (bundled MiniLM) run of the sample task beside the broken input ---


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def loaded_once(minilm, monkeypatch):
    """`--model minilm` gets the session's MiniLM instead of loading it again for every command."""
    import harness.models

    real = harness.models.load_model

    def load(spec, **options):
        return minilm if spec == "minilm" else real(spec, **options)

    monkeypatch.setattr(harness.models, "load_model", load)


def run(tmp_path, cache, *tasks, model="minilm", extra=()):
    return cli("run", "--model", model, "--tasks", ",".join(map(str, tasks)), "--output", str(tmp_path / "out"),
               "--cache-dir", str(cache), *extra)


def saved(tmp_path, task="sample"):
    """The result files of `task` under the run's output (the work that must survive a failure)."""
    return sorted((tmp_path / "out").rglob(f"{task}.json"))


def test_brackets_in_output_and_task_paths_print_literally_on_every_run(tmp_path, cache):
    data = copy_sample(tmp_path / "[x]data")
    out = tmp_path / "res[/x]"
    for again in (False, True):
        result = cli("run", "--model", "minilm", "--tasks", str(data), "--output", str(out), "--cache-dir", str(cache))
        assert result.exit_code == 0, result.output
        [path] = sorted(out.rglob("*.json"))
        note = " (existing result; --overwrite to recompute)" if again else ""
        assert f"sentence-transformers/all-MiniLM-L6-v2 on [x]data: {path}{note}\n" in result.output
        assert "[x]data" in result.output.split("ifir-bench results")[1]  # the table row too


@pytest.fixture()
def no_model_loading(monkeypatch):
    """Fails the test if a model is loaded: the error must come before any work."""
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was reported")

    monkeypatch.setattr(harness.models, "load_model", refuse)


def test_misspelt_task_fails_before_any_model_loads_or_task_runs(tmp_path, cache, no_model_loading):
    result = run(tmp_path, cache, "sample", "scifcat")
    assert result.exit_code == 2
    assert result.output.startswith(
        "error: Unknown task 'scifcat': not a registered name (see `ifir-bench tasks`), a local directory, "
        "or a hub dataset id (org/name). Did you mean 'scifact'"
    )
    assert result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task", ["/no/such/dir", "no/such/dir/x", "./missing"])
def test_missing_directory_says_so(tmp_path, cache, no_model_loading, task):
    result = run(tmp_path, cache, "sample", task)
    assert (result.exit_code, result.output) == (2, f"error: {task}: no such directory.\n")


def test_misspelt_model_in_a_pipeline_fails_before_loading(tmp_path, cache, no_model_loading):
    result = run(tmp_path, cache, "sample", model="minilm>>cross-encodr:x")
    assert result.exit_code == 2
    assert "error: Unknown model 'cross-encodr:x': " in result.output and "Did you mean 'cross-encoder'?" in result.output


def test_device_without_cuda_is_one_line(tmp_path, cache, no_model_loading):
    import torch

    if torch.cuda.is_available():
        result = run(tmp_path, cache, "sample", extra=["--device", "cuda:99"])
        n = torch.cuda.device_count()
        expected = f"error: --device cuda:99: no device cuda:99 here ({n} CUDA device(s): cuda:0 to cuda:{n - 1}).\n"
    else:
        result = run(tmp_path, cache, "sample", extra=["--device", "cuda"])
        expected = f"error: --device cuda: this torch is built without CUDA (torch {torch.__version__}); use --device cpu or leave it out.\n"
    assert (result.exit_code, result.output) == (2, expected)
    result = run(tmp_path, cache, "sample", extra=["--device", "gpu"])
    assert result.output == "error: --device gpu: unknown device 'gpu' (cpu, cuda, cuda:N, mps, or a comma-separated list).\n"


def test_offline_hub_task_fails_before_work_and_advises_the_installed_cli(tmp_path, cache, no_model_loading, monkeypatch):
    from importlib.metadata import distribution

    from harness.tasks import REGISTRY

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))  # scifact is surely not cached
    result = run(tmp_path, cache, "sample", "scifact")
    rev = REGISTRY["scifact"].revision
    assert (result.exit_code, result.output) == (2, (
        "error: Dataset 'mteb/scifact' is not in the local cache and the hub is offline (HF_HUB_OFFLINE=1): on a "
        "machine with the hub run `ifir-bench data export scifact DIR`, copy DIR here and pass it to --tasks. Where "
        f"the hub is reachable, `hf download mteb/scifact --repo-type dataset --revision {rev}` downloads it.\n"))
    scripts = {e.name for e in distribution("huggingface_hub").entry_points if e.group == "console_scripts"}
    assert "hf" in scripts  # the command advised is the one the installed huggingface_hub ships


def broken(tmp_path, edit):
    """A copy of the sample named 'bad', changed by `edit(folder)`."""
    folder = copy_sample(tmp_path / "bad")
    edit(folder)
    return folder


def rewrite(path, change):
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")


def assert_reported_and_sample_kept(tmp_path, result, bad, message):
    """The bad task's one-line error, the sample (run after it) saved and tabled, exit status 1."""
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert f"error: {message}" in lines, result.output
    assert lines[-1] == f"error: not run: {bad} (see above); every other result is saved."
    assert len(saved(tmp_path)) == 1
    assert any(line.startswith("│ minilm │ sample │") for line in lines)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("grade", ["0.5", "2.7", "nan", "yes", "inf"])
def test_qrels_grade_that_is_not_a_whole_number(tmp_path, cache, grade):
    def edit(folder):
        rewrite(folder / "qrels" / "test.tsv", lambda lines: lines[:2] + [lines[2].rsplit("\t", 1)[0] + f"\t{grade}"] + lines[3:])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/qrels/test.tsv:3: relevance grade '{grade}' is not a whole number (grades are 0, 1, 2, ...)."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_headerless_qrels_with_a_bad_first_grade_is_not_taken_for_a_header(tmp_path, cache):
    def edit(folder):
        rewrite(folder / "qrels" / "test.tsv", lambda lines: [lines[1].rsplit("\t", 1)[0] + "\tnan"] + lines[2:])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/qrels/test.tsv:1: relevance grade 'nan' is not a whole number (grades are 0, 1, 2, ...)."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


@pytest.mark.parametrize("name, line, column", [("corpus.jsonl", 5, 12), ("queries.jsonl", 2, 9), ("qrels/test.tsv", 4, 1)])
def test_non_utf8_byte_names_file_and_line(tmp_path, cache, name, line, column):
    def edit(folder):
        raw = (folder / name).read_bytes().split(b"\n")
        raw[line - 1] = raw[line - 1][: column - 1] + b"\xe9" + raw[line - 1][column - 1:]  # latin-1 'e acute'
        (folder / name).write_bytes(b"\n".join(raw))

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/{name}:{line}: not valid UTF-8 (byte 0xe9 at column {column}); save the file as UTF-8."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_byte_order_marks_are_tolerated_everywhere(tmp_path, cache):
    """A BOM before JSONL, before the qrels header and before a headerless qrels id changes nothing."""
    def edit(folder):
        rewrite(folder / "qrels" / "test.tsv", lambda lines: lines[1:])  # no header: the BOM touches an id
        for f in [*folder.glob("*.jsonl"), folder / "qrels" / "test.tsv"]:
            f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())

    bom = broken(tmp_path, edit)
    result = run(tmp_path, cache, bom, "sample")
    assert result.exit_code == 0, result.output
    import json

    [with_bom], [plain] = saved(tmp_path, "bad"), saved(tmp_path)
    assert json.loads(with_bom.read_text())["metrics"] == json.loads(plain.read_text())["metrics"]


def test_unterminated_json_string_wording(tmp_path, cache):
    def edit(folder):
        rewrite(folder / "corpus.jsonl", lambda lines: lines[:2] + ['{"_id": "d01-03", "title": "Opinion'] + lines[3:])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/corpus.jsonl:3: not valid JSON (Unterminated string starting at: column 28)."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_followir_folder_without_instructions(tmp_path, cache):
    bad = broken(tmp_path, lambda folder: (folder / "instructions.jsonl").unlink())
    result = run(tmp_path, cache, bad, "sample")
    message = (f"{bad}/instructions.jsonl is missing: a FollowIR directory gives each query an instruction there "
               "(or in an 'instruction' field of queries.jsonl); without them p-MRR has nothing to compare.")
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_followir_og_query_without_changed_partner(tmp_path, cache):
    def edit(folder):
        for name in ("queries.jsonl", "instructions.jsonl", "top_ranked.jsonl", "qrels/test.tsv"):
            rewrite(folder / name, lambda lines: [x for x in lines if "q05-changed" not in x])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/queries.jsonl: query 'q05-og' has no 'q05-changed' partner (FollowIR queries come in pairs)."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_followir_without_any_usable_pair(tmp_path, cache):
    def edit(folder):
        rewrite(folder / "qrel_diff.jsonl", lambda lines: [x.split(", \"corpus-ids\"")[0] + ', "corpus-ids": []}' for x in lines])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/qrel_diff.jsonl: no query has changed documents, so p-MRR cannot be computed."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_changed_document_outside_the_candidates_is_a_stored_warning(tmp_path, cache):
    """Scored as mteb scores it (ranked after every candidate in both runs), but never silently."""
    import json

    def edit(folder):
        rewrite(folder / "qrel_diff.jsonl", lambda lines: [lines[0].replace('"d01-03"', '"d02-01", "d01-03"')] + lines[1:])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    assert result.exit_code == 0, result.output
    message = (f"{bad}/qrel_diff.jsonl: 1 changed document(s) of 1 queries are not among the query's candidates "
               "(e.g. 'd02-01' of 'q01'); they rank after every candidate in both runs and move p-MRR toward 0, as in mteb.")
    assert f"warning: {message}" in result.output.splitlines()
    [path] = saved(tmp_path, "bad")
    stored = json.loads(path.read_text())
    assert stored["task"]["warnings"] == [message]
    # q01's p-MRR is the mean over its 6 changed documents, one of which scores 0: 5/6 of the clean value
    [clean] = saved(tmp_path)
    clean_q01 = json.loads(clean.read_text())["per_query"]["p-MRR"]["q01"]
    assert stored["per_query"]["p-MRR"]["q01"] == pytest.approx(clean_q01 * 5 / 6)


def test_exported_task_file_without_source(tmp_path, cache):
    bad = broken(tmp_path, lambda folder: (folder / "ifir_task.json").write_text('{"name": "bad", "revision": "x"}'))
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/ifir_task.json: missing field 'source' (written by `ifir-bench data export`); re-export the task or delete this file."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_results_command_prints_saved_results_without_running(tmp_path, cache, request):
    """`ifir-bench results DIR`: the run's own table again, from the files alone, filtered on demand."""
    import json

    assert run(tmp_path, cache, "sample").exit_code == 0
    request.getfixturevalue("no_model_loading")  # from here on nothing may be loaded or run
    [path] = saved(tmp_path)
    general = path.with_name("scifact-like.json")
    result = json.loads(path.read_text())
    result["task"] |= {"name": "scifact-like", "kind": "retrieval", "measures": ["nDCG@10"], "main_measure": "nDCG@10"}
    result["metrics"] = {"nDCG@10": 0.5}
    general.write_text(json.dumps(result))
    (path.parent / "broken.json").write_text("{")

    shown = cli("results", str(tmp_path / "out"))
    assert shown.exit_code == 0, shown.output
    assert f"warning: skipped: {path.parent / 'broken.json'}:1: not valid JSON (Expecting property name enclosed in double quotes: column 2); the file may be truncated." in shown.output
    table = shown.output[shown.output.index("ifir-bench results"):].splitlines()
    assert max(map(len, table)) <= 80  # og / changed stacked so that the table fits
    assert [line for line in table if line.startswith("│")] == [
        "│ minilm │ sample       │      +0.95 │         │ 0.9372 │  0.9094 │",
        "│        │              │            │         │ 0.5381 │  0.5809 │",
        "│ minilm │ scifact-like │            │  0.5000 │        │         │",
    ]
    assert "FollowIR: og run vs og qrels above changed run vs changed qrels" in shown.output

    only = cli("results", str(tmp_path / "out"), "--task", "scifact-like")
    assert "p-MRR" not in only.output and "FollowIR" not in only.output  # general-only: no FollowIR column or caption
    assert [line for line in only.output.splitlines() if line.startswith("│")] == ["│ minilm │ scifact-like │  0.5000 │"]

    long_name = "nano-climatefever-with-instructions-v2"
    general.with_name("long.json").write_text(json.dumps(result | {"task": result["task"] | {"name": long_name}}))
    shown = cli("results", str(tmp_path / "out"))
    assert [line.rstrip() for line in shown.output.splitlines()][-5:] == [  # too wide for a table: one line each
        "ifir-bench results",
        f"minilm on {long_name}: nDCG@10 0.5000",
        "minilm on sample: p-MRR x100 +0.95; nDCG@5 0.9372/0.5381; AP@1000 0.9094/0.5809",
        "minilm on scifact-like: nDCG@10 0.5000",
        "FollowIR: og run vs og qrels/changed run vs changed qrels",
    ]
    none = cli("results", str(tmp_path / "out"), "--model", "bm25")
    assert (none.exit_code, none.output.splitlines()[-1]) == (
        2, f"error: {tmp_path / 'out'}: no result files matching --model/--task (they are written as <model>/<revision>/<task>.json).")


def _commands(command, path):
    import click

    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, [*path, name])
    yield " ".join(path), command


def test_every_option_and_command_has_help_text():
    import click

    lacking = [f"{path} {p.opts[0]}" for path, command in _commands(main, ["ifir-bench"])
               for p in command.params if isinstance(p, click.Option) and not p.help]
    lacking += [path for path, command in _commands(main, ["ifir-bench"]) if not command.help]
    assert not lacking


def test_help_fits_80_columns_without_breaking_option_names():
    for path, command in _commands(main, ["ifir-bench"]):
        result = cli(*path.split()[1:], "--help")
        assert result.exit_code == 0 and max(map(len, result.output.splitlines())) <= 80, path


def test_non_utf8_paraphrase_file_fails_before_any_model_loads(tmp_path, cache, no_model_loading):
    path = tmp_path / "paraphrases.txt"
    path.write_bytes("\ufeffFind documents that {instruction}\nR\u00e9sum\u00e9: {instruction}\n".encode("utf-8").replace(b"\xc3\xa9", b"\xe9", 1))
    result = run(tmp_path, cache, "sample", extra=["--paraphrases", str(path)])
    assert (result.exit_code, result.output) == (2, f"error: {path}:2: not valid UTF-8 (byte 0xe9 at column 2); save the file as UTF-8.\n")


def test_non_utf8_training_config(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_bytes(b"[model]\nbase = \"minilm\"\n# caf\xe9\n")
    result = cli("train-dualview", "--source", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(path))
    assert (result.exit_code, result.output) == (2, f"error: {path}:3: not valid UTF-8 (byte 0xe9 at column 6); save the file as UTF-8.\n")


def test_unknown_measure_fails_before_any_model_loads(tmp_path, cache, no_model_loading):
    result = run(tmp_path, cache, "sample", extra=["--measures", "nDCG@10,nDCG@x"])
    assert result.exit_code == 2
    assert result.output.startswith("error: Unknown measure 'nDCG@x' (ir_measures names like nDCG@10, AP@1000, R@100, RR@10): ")
    assert result.output.count("\n") == 1


def test_model_folder_or_hub_model_that_cannot_load_fails_before_any_model_loads(tmp_path, cache, no_model_loading, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    result = run(tmp_path, cache, "sample", model="minilm>>cross-encoder:cross-encoder/ms-marco-MiniLM-L6-v2")
    assert (result.exit_code, result.output) == (2, (
        "error: Model 'cross-encoder/ms-marco-MiniLM-L6-v2' is not in the local cache and the hub is offline "
        "(HF_HUB_OFFLINE=1): pass a local copy to --model. Where the hub is reachable, "
        "`hf download cross-encoder/ms-marco-MiniLM-L6-v2 --local-dir DIR` downloads it.\n"))
    result = run(tmp_path, cache, "sample", model=str(tmp_path / "runs" / "minilm-dv32"))
    assert (result.exit_code, result.output) == (2, f"error: {tmp_path / 'runs' / 'minilm-dv32'}: no such directory.\n")


def test_general_only_run_in_a_terminal_of_80_columns(tmp_path, cache):
    """A real subprocess at COLUMNS=80 on a BEIR copy of the sample: no p-MRR column, no FollowIR
    caption, the result path whole on its line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    beir = copy_sample(tmp_path / "a-rather-long-general-task-name")
    for name in ("top_ranked.jsonl", "qrel_diff.jsonl", "instructions.jsonl"):
        (beir / name).unlink()
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--model", "minilm", "--tasks", str(beir),
         "--output", str(tmp_path / "out"), "--cache-dir", str(cache)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    [path] = saved(tmp_path, beir.name)
    assert f"sentence-transformers/all-MiniLM-L6-v2 on {beir.name}: {path}\n" in done.stderr
    assert "p-MRR" not in done.stdout and "FollowIR" not in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 1 and rows[0].startswith(f"│ minilm │ {beir.name} │")
    assert max(map(len, done.stdout.splitlines())) <= 80


def test_a_model_that_fails_on_one_task_leaves_the_others_running(tmp_path, cache, monkeypatch):
    """A retrieve-only plugin cannot rerank the sample's candidates: that pair is reported, the BEIR
    task after it still runs and is saved, exit status 1."""
    plugin = tmp_path / "plugin_retriever.py"
    plugin.write_text(
        "from harness.models import ModelMeta\n"
        "class Retriever:\n"
        "    meta = ModelMeta(name='first-doc', revision='1', kind='retriever', spec='plugin_retriever:Retriever')\n"
        "    def retrieve(self, corpus, queries, *, top_k):\n"
        "        return {q: {d: 1.0 for d in list(corpus)[:top_k]} for q in queries}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    beir = copy_sample(tmp_path / "beir")
    for name in ("top_ranked.jsonl", "qrel_diff.jsonl", "instructions.jsonl"):
        (beir / name).unlink()
    result = run(tmp_path, cache, "sample", beir, model="plugin_retriever:Retriever")
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert "error: first-doc on sample: 'first-doc' cannot rerank candidates, which task 'sample' requires." in lines
    assert lines[-1] == "error: not run: first-doc on sample (see above); every other result is saved."
    assert len(saved(tmp_path, "beir")) == 1 and any(line.startswith("│ plugin_retriever:Retriever │ beir") for line in lines)
