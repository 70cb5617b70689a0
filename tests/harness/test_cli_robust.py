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
        assert f"minilm on [x]data: {path}{note}\n" in result.output
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



def assert_scores_as_the_sample(tmp_path, cache, edit):
    """The sample edited by `edit` runs cleanly and scores exactly as the unedited sample."""
    import json

    edited = broken(tmp_path, edit)
    result = run(tmp_path, cache, edited, "sample")
    assert result.exit_code == 0, result.output
    [changed], [plain] = saved(tmp_path, "bad"), saved(tmp_path)
    assert json.loads(changed.read_text())["metrics"] == json.loads(plain.read_text())["metrics"]


def test_byte_order_marks_are_tolerated_everywhere(tmp_path, cache):
    """A BOM before JSONL, before the qrels header and before a headerless qrels id changes nothing."""
    def edit(folder):
        rewrite(folder / "qrels" / "test.tsv", lambda lines: lines[1:])  # no header: the BOM touches an id
        for f in [*folder.glob("*.jsonl"), folder / "qrels" / "test.tsv"]:
            f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())

    assert_scores_as_the_sample(tmp_path, cache, edit)


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
        "(HF_HUB_OFFLINE=1): pass a local copy to --model or make one offline: python -m baselines.cross_encoder_training "
        "(README, Baselines). Where the hub is reachable, `hf download cross-encoder/ms-marco-MiniLM-L6-v2 --local-dir DIR` downloads it.\n"))
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
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--model", "minilm", "--tasks", str(beir),
         "--output", str(tmp_path / "out"), "--cache-dir", str(cache)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    [path] = saved(tmp_path, beir.name)
    assert f"minilm on {beir.name}: {path}\n" in done.stderr
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
    assert len(saved(tmp_path, "beir")) == 1 and any(line.startswith("│ first-doc │ beir") for line in lines)  # the plugin's own name (one display name)


# --- issue 19: everything checkable is checked before computing; results never overwrite each other ---


@pytest.mark.parametrize("measure, message", [
    ("nDCG@0", "Measure 'nDCG@0': the cutoff after '@' must be a whole number of at least 1, e.g. nDCG@10."),
    ("nDCG@1.5", "Measure 'nDCG@1.5': the cutoff after '@' must be a whole number of at least 1, e.g. nDCG@10."),
    ("R(rel=0)@10", "Measure 'R(rel=0)@10' cannot be computed by its backend (TypeError: Argument relevance_level should be positive)."),
])
def test_a_measure_that_cannot_be_computed_fails_before_any_model_loads(tmp_path, cache, no_model_loading, measure, message):
    """nDCG@0 made pytrec_eval abort the whole process (SIGABRT) after the search had run."""
    result = run(tmp_path, cache, "sample", extra=["--measures", f"nDCG@10,{measure}"])
    assert (result.exit_code, result.output) == (2, f"error: {message}\n")


@pytest.mark.parametrize("option", ["--output", "--cache-dir"])
def test_output_or_cache_folder_that_is_a_file_fails_before_any_model_loads(tmp_path, no_model_loading, option):
    (tmp_path / "f").write_text("x")
    for target, why in ((tmp_path / "f", "is a file"), (tmp_path / "f" / "sub", f"is under {tmp_path / 'f'}, which is a file")):
        folders = {"--output": str(tmp_path / "out"), "--cache-dir": str(tmp_path / "cache"), option: str(target)}
        result = cli("run", "--model", "minilm", "--tasks", "sample", *(x for pair in folders.items() for x in pair))
        assert (result.exit_code, result.output) == (2, f"error: {option} {target} {why}, not a folder.\n")


def test_a_full_disk_is_one_line_naming_the_folder_and_keeps_what_was_written(tmp_path, cache, monkeypatch):
    import errno
    import os
    import re

    assert run(tmp_path, cache, "sample").exit_code == 0
    [path] = saved(tmp_path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    tail = ": no space left on its device (No space left on device); free some and run again (everything written before is intact)."
    result = run(tmp_path, cache, "sample", extra=["--overwrite"])  # the vectors are cached: writing the result fails
    lines = result.output.splitlines()
    assert result.exit_code == 1 and f"error: minilm on sample: {path.parent}{tail}" in lines
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["sample.json", "sample.run.trec"]
    fresh = tmp_path / "fresh-cache"  # nothing cached: writing the vectors fails first
    result = cli("run", "--model", "minilm", "--tasks", "sample", "--output", str(tmp_path / "out"), "--cache-dir", str(fresh), "--overwrite")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(rf"^error: minilm on sample: {re.escape(str(fresh))}/embeddings/\S+{re.escape(tail)}$",
                     result.output, re.MULTILINE), result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize("spec, message", [
    ("bm25:k1=-1,b=2", "Bad BM25 parameter k1=-1: k1 is a finite number of at least 0 (Lucene's BM25Similarity), e.g. 0.9."),
    ("minilm>>bm25:b=2", "Bad BM25 parameter b=2: b is between 0 and 1 (Lucene's BM25Similarity), e.g. 0.4."),
    ("bm25s:k1=nan", "Bad BM25 parameter k1=nan: k1 is a finite number of at least 0 (Lucene's BM25Similarity), e.g. 0.9."),
])
def test_bad_bm25_settings_fail_before_any_model_loads(tmp_path, cache, no_model_loading, spec, message):
    result = run(tmp_path, cache, "sample", model=spec)
    assert (result.exit_code, result.output) == (2, f"error: {message}\n")


def test_a_damaged_model_file_is_one_line_and_the_other_models_run(tmp_path, cache):
    from harness.models.dense import bundled_minilm_path

    folder = tmp_path / "damaged-minilm"
    shutil.copytree(bundled_minilm_path(), folder)
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)  # a download cut short
    result = cli("run", "--model", str(folder), "--model", "minilm", "--tasks", "sample",
                 "--output", str(tmp_path / "out"), "--cache-dir", str(cache))
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert (f"error: Could not load a sentence-transformers model from '{folder}': Error while deserializing header: "
            "incomplete metadata, file not fully covered") in lines
    assert lines[-1] == f"error: not run: {folder} (see above); every other result is saved."
    assert len(saved(tmp_path)) == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--epochs", "-1"], "Invalid value for '--epochs': -1.0 is not in the range x>0."),
    (["--epochs", "0"], "Invalid value for '--epochs': 0.0 is not in the range x>0."),
    (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range x>=1."),
])
def test_train_dualview_refuses_numbers_that_train_nothing_before_any_work(tmp_path, shared_data, args, message):
    result = cli("train-dualview", "--source", str(shared_data / "scifact"), "--out", str(tmp_path / "o"), "--llm", "none", *args)
    assert result.exit_code == 2 and message in result.output and not (tmp_path / "o").exists()


def test_train_dualview_out_that_is_a_file_fails_before_synthesis(tmp_path, shared_data):
    (tmp_path / "o").write_text("x")
    result = cli("train-dualview", "--source", str(shared_data / "scifact"), "--out", str(tmp_path / "o"), "--llm", "none")
    assert (result.exit_code, result.output) == (2, f"error: --out {tmp_path / 'o'} is a file, not a folder.\n")


def test_result_files_with_wrong_metric_values_are_skipped_with_one_warning(tmp_path, cache, request):
    """A string crashed `results`; NaN, booleans and 7.5 were shown (7.5 bolded as best on the site)."""
    import json

    from leaderboard.render import build_site

    assert run(tmp_path, cache, "sample").exit_code == 0
    request.getfixturevalue("no_model_loading")
    [path] = saved(tmp_path)
    good = json.loads(path.read_text())
    bad = {
        "string": ("og", "nDCG@5", "0.99", "metric 'og/nDCG@5' is \"0.99\", not a finite number."),
        "nan": ("og", "nDCG@5", float("nan"), "metric 'og/nDCG@5' is NaN, not a finite number."),
        "bool": ("changed", "AP@1000", True, "metric 'changed/AP@1000' is true, not a finite number."),
        "big": (None, "p-MRR", 7.5, "metric 'p-MRR' is 7.5, outside [-1, 1]."),
        "big-ap": ("og", "AP@1000", 7.5, "metric 'og/AP@1000' is 7.5, outside [0, 1]."),
    }
    for name, (part, measure, value, _) in bad.items():
        data = json.loads(path.read_text())
        (data["metrics"][part] if part else data["metrics"])[measure] = value
        path.with_name(f"{name}.json").write_text(json.dumps(data | {"task": good["task"] | {"name": name}}))
    shown = cli("results", str(tmp_path / "out"))
    assert shown.exit_code == 0, shown.output
    warnings = [line for line in shown.output.splitlines() if line.startswith("warning:")]
    by_file = sorted(bad, key=lambda name: name + ".json")
    assert warnings == [f"warning: skipped: {path.with_name(name + '.json')}: {bad[name][-1]}" for name in by_file]
    assert [line.split("│")[2].strip() for line in shown.output.splitlines() if line.startswith("│ minilm")] == ["sample"]
    report = build_site(tmp_path / "out", tmp_path / "site")
    rel = path.parent.relative_to(tmp_path / "out").as_posix()
    assert report.n_results == 1
    assert {f"skipped {rel}/{name}.json: {message}" for name, (*_, message) in bad.items()} <= set(report.warnings)


def test_qrels_with_a_header_and_a_fourth_column_are_read_by_their_header(tmp_path, cache):
    def edit(folder):
        rewrite(folder / "qrels" / "test.tsv", lambda lines: [lines[0] + "\tnote"] + [f"{x}\tjudged by B. Smith" for x in lines[1:]])

    assert_scores_as_the_sample(tmp_path, cache, edit)


def test_a_followir_pair_without_changed_documents_is_left_out_of_p_mrr_with_a_warning(tmp_path, cache):
    import json

    def edit(folder):
        rewrite(folder / "qrel_diff.jsonl", lambda lines: [x if '"q03"' not in x else '{"query-id": "q03", "corpus-ids": []}' for x in lines])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, "sample", bad)
    assert result.exit_code == 0, result.output
    message = (f"{bad}/qrel_diff.jsonl: 1 of 12 query pairs have no changed documents (e.g. 'q03'); p-MRR leaves them out, "
               "as mteb does (their MAP and nDCG still count).")
    assert f"warning: {message}" in result.output.splitlines()
    [path], [clean] = saved(tmp_path, "bad"), saved(tmp_path)
    stored, clean = json.loads(path.read_text()), json.loads(clean.read_text())
    assert stored["task"]["warnings"] == [message]
    others = [v for q, v in clean["per_query"]["p-MRR"].items() if q != "q03"]
    assert stored["metrics"]["p-MRR"] == pytest.approx(sum(others) / 11)


def test_qrels_without_any_relevant_document_are_warned(tmp_path, cache):
    import json

    def edit(folder):
        for name in ("top_ranked.jsonl", "qrel_diff.jsonl", "instructions.jsonl"):
            (folder / name).unlink()
        rewrite(folder / "qrels" / "test.tsv", lambda lines: lines[:1] + [x.rsplit("\t", 1)[0] + "\t0" for x in lines[1:]])

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad)
    message = (f"{bad}: 24 of 24 judged queries have no relevant document (every grade 0 or less; e.g. 'q01-og'); "
               "they score 0 on every measure.")
    assert result.exit_code == 0 and f"warning: {message}" in result.output.splitlines(), result.output
    [path] = saved(tmp_path, "bad")
    assert json.loads(path.read_text())["metrics"] == {"nDCG@10": 0.0, "R@100": 0.0}


def test_two_tasks_of_one_name_never_overwrite_each_other(tmp_path, cache):
    """a/tiny and b/tiny in one run, and a folder named like the registered `sample` with other data:
    each keeps its result. The same data at another path (a moved folder) is the same task."""
    import json

    a, b = copy_sample(tmp_path / "a" / "tiny"), copy_sample(tmp_path / "b" / "tiny")
    rewrite(b / "qrel_diff.jsonl", lambda lines: lines[:6])  # other data: 6 of the 12 pairs have changed documents
    local_sample = copy_sample(tmp_path / "c" / "sample")
    rewrite(local_sample / "qrel_diff.jsonl", lambda lines: lines[:8])
    for again in (False, True):
        result = run(tmp_path, cache, a, b, "sample", local_sample)
        assert result.exit_code == 0, result.output
        files = sorted(p.name for p in (tmp_path / "out").rglob("*.json"))
        digest = {f: __import__("hashlib").sha256(str(f.resolve()).encode()).hexdigest()[:8] for f in (b, local_sample)}
        assert files == sorted(["tiny.json", f"tiny.{digest[b]}.json", "sample.json", f"sample.{digest[local_sample]}.json"])
        assert result.output.count("(existing result; --overwrite to recompute)") == (4 if again else 0)
    by_name = {json.loads(p.read_text())["task"]["name"]: json.loads(p.read_text()) for p in (tmp_path / "out").rglob("*.json")}
    assert by_name["tiny"]["task"]["source"] == str(a.resolve()) and by_name[f"tiny.{digest[b]}"]["task"]["source"] == str(b.resolve())
    assert by_name["tiny"]["metrics"]["p-MRR"] != by_name[f"tiny.{digest[b]}"]["metrics"]["p-MRR"]
    assert by_name[f"tiny.{digest[b]}"]["warnings"] == [
        f"another task named 'tiny' (from {a.resolve()}) has its result in {saved(tmp_path, 'tiny')[0].parent}; "
        f"this one (from {b.resolve()}) is saved under its own name."]
    shown = " ".join(cli("results", str(tmp_path / "out")).output.split())
    assert all(f" {name} " in shown for name in by_name)
    moved = copy_sample(tmp_path / "d" / "tiny")  # a's data at another path: its result serves
    result = run(tmp_path, cache, moved)
    assert result.exit_code == 0 and "(existing result; --overwrite to recompute)" in result.output, result.output
    assert len(list((tmp_path / "out").rglob("*.json"))) == 4


@pytest.mark.parametrize("name, line, bad_id", [("corpus.jsonl", 3, "d01 03"), ("queries.jsonl", 2, "q01\tog")])
def test_ids_holding_whitespace_are_refused_where_they_are_read(tmp_path, cache, name, line, bad_id):
    import json

    def edit(folder):
        def change(lines):
            row = json.loads(lines[line - 1])
            return lines[: line - 1] + [json.dumps(row | {"_id": bad_id})] + lines[line:]

        rewrite(folder / name, change)

    bad = broken(tmp_path, edit)
    result = run(tmp_path, cache, bad, "sample")
    message = f"{bad}/{name}:{line}: id {bad_id!r} is empty or holds whitespace, which TREC run files cannot carry (whitespace separates their fields)."
    assert_reported_and_sample_kept(tmp_path, result, bad, message)


def test_empty_instructions_are_scored_and_only_identical_pairs_refused(tmp_path, cache):
    """An original query without instruction against the same query with one: scored (as mteb does)."""
    import json

    def without_og_instructions(folder):
        rewrite(folder / "instructions.jsonl", lambda lines: [x for x in lines if "-og" not in x])

    bare = broken(tmp_path, without_og_instructions)
    result = run(tmp_path, cache, bare)
    assert result.exit_code == 0, result.output
    [path] = saved(tmp_path, "bad")
    stored = json.loads(path.read_text())
    assert stored["task"]["n_queries"] == 24 and -1 <= stored["metrics"]["p-MRR"] <= 1

    def same_instruction(folder):
        rows = [json.loads(x) for x in (folder / "instructions.jsonl").read_text().splitlines()]
        og = {r["query-id"]: r["instruction"] for r in rows}
        rewrite(folder / "instructions.jsonl", lambda lines: [json.dumps(r | ({"instruction": og["q02-og"]} if r["query-id"] == "q02-changed" else {}))
                                                             for r in rows])

    shutil.rmtree(tmp_path / "bad")
    same = broken(tmp_path, same_instruction)
    result = run(tmp_path, cache, same, "sample")
    message = (f"{same}: queries 'q02-og' and 'q02-changed' have the same text and instruction (1 of 12 pairs), so p-MRR "
               "has no two rankings to compare; an empty instruction is fine where the other differs.")
    assert_reported_and_sample_kept(tmp_path, result, same, message)


def test_leaderboard_build_into_the_results_folder_twice_reads_no_copies(tmp_path, cache):
    assert run(tmp_path, cache, "sample").exit_code == 0
    out = tmp_path / "out"
    for _ in range(2):
        result = cli("leaderboard", "build", str(out), "--out", str(out / "site"))
        assert result.exit_code == 0, result.output
    assert "wrote" in result.output and ": 1 rows, 1 result files," in " ".join(result.output.split())
    assert "warning: not read site/: it holds a built leaderboard site, whose results are copies." in result.output


def test_leaderboard_publish_keeps_the_pages_files(tmp_path, cache):
    import subprocess

    assert run(tmp_path, cache, "sample").exit_code == 0
    assert cli("leaderboard", "build", str(tmp_path / "out"), "--out", str(tmp_path / "site")).exit_code == 0
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "CNAME").write_text("leaderboard.example.org\n")
    for _ in range(2):  # into an empty folder holding only CNAME, then over the published site
        result = cli("leaderboard", "publish", str(tmp_path / "site"), "--to", str(pages))
        assert result.exit_code == 0, result.output
        assert (pages / "CNAME").read_text() == "leaderboard.example.org\n" and (pages / ".nojekyll").is_file()

    repo = tmp_path / "repo"
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, text=True).stdout  # noqa: E731
    repo.mkdir()
    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init")
    git("checkout", "-q", "--orphan", "gh-pages")
    (repo / "CNAME").write_text("leaderboard.example.org\n")
    git("add", "CNAME")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "custom domain")
    git("checkout", "-q", "main")
    result = cli("leaderboard", "publish", str(tmp_path / "site"), "--to", str(repo), "--branch", "gh-pages")
    assert result.exit_code == 0, result.output
    assert git("show", "gh-pages:CNAME") == "leaderboard.example.org\n"
    assert "index.html" in git("ls-tree", "--name-only", "gh-pages").split()


def test_the_cli_starts_without_importing_torch():
    """`ifir-bench --help` and every bad-input message come before any model is needed: importing the
    CLI (all subcommands registered) must not import torch or sentence-transformers (it took 7 s)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, harness.cli; print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
