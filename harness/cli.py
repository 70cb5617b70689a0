"""`ifir-bench`: a thin click shell over harness functions (and the trainer and leaderboard)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click
from rich.console import Group as Renderables
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from harness.console import console, error, out, quiet_libraries, say, warning

quiet_libraries()  # before anything imports transformers or tqdm

from harness.devices import check_device  # noqa: E402
from harness.errors import IfirError  # noqa: E402
from harness.metrics.pmrr import shown  # noqa: E402
from harness.registry import Registry, import_target  # noqa: E402
from harness.results import display_name  # noqa: E402


class Group(click.Group):
    """Shows an IfirError as one clear line instead of a traceback; remembers the command line."""

    argv: list[str] = []

    def main(self, args=None, *rest, **kwargs):
        Group.argv = list(args) if args is not None else sys.argv[1:]
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except IfirError as e:
            error(str(e))
            sys.exit(2)
        except KeyboardInterrupt:  # click would print only "Aborted!"
            error("interrupted; every result and vector finished so far is kept, and the same command goes on from there.")
            sys.exit(130)


def _command_line() -> str:
    return "ifir-bench " + shlex.join(Group.argv)


@click.group(cls=Group)
@click.version_option(package_name="ifir-bench")
def main():
    """Benchmark, baselines and dual-view training for instruction-following retrieval."""


def _shown_measures(task: dict) -> list[str]:
    """A task's measures, and its main score where that is a family measure (Robustness@10, paired accuracy)."""
    own = task["kind"] != "instruction-reranking" and task.get("main_measure") not in (None, *task["measures"])
    return [*task["measures"], task["main_measure"]] if own else list(task["measures"])


def results_table(results: list[dict], width: int | None = None):
    """One row per (model, task): p-MRR x100 for FollowIR tasks, then each measure (for FollowIR the
    og run vs og qrels, then the changed run vs changed qrels). Nothing is ever cut to fit `width`
    (default: the terminal's): FollowIR pairs go on two lines if needed, and if the table still does not
    fit, each result becomes one line. The p-MRR column and FollowIR caption appear only with a FollowIR task."""
    width = width or out.width
    for stacked in (False, True):
        table = _results_table(results, stacked)
        if Measurement.get(out, out.options.update_width(1 << 16), table).maximum <= width:
            return table
    header, rows = _results_rows(results, stacked=False)
    lines = [f"{row[0]} on {row[1]}: " + "; ".join(f"{h} {c.replace(' / ', '/')}" for h, c in zip(header[2:], row[2:]) if c) for row in rows]
    if "p-MRR x100" in header:
        lines.append(_FOLLOWIR_CAPTION.format("/"))
    return Renderables(Text("ifir-bench results", style="bold"), *(Text(line, overflow="fold") for line in lines))


_FOLLOWIR_CAPTION = "FollowIR: og run vs og qrels{}changed run vs changed qrels"


def _results_rows(results: list[dict], *, stacked: bool) -> tuple[list[str], list[list[str]]]:
    measures = sorted({m for r in results for m in _shown_measures(r["task"])}, key=lambda m: (m[0] != "n", m))
    followir = any(r["task"]["kind"] == "instruction-reranking" for r in results)
    header = ["model", "task", *(["p-MRR x100"] if followir else []), *measures]
    rows = []
    for r in results:
        m = r["metrics"]
        if r["task"]["kind"] == "instruction-reranking":
            sep = "\n" if stacked else " / "
            cells = [f"{m['og'][k]:.4f}{sep}{m['changed'][k]:.4f}" if k in m["og"] else "" for k in measures]
            pmrr = [shown(m["p-MRR"], "p-MRR")]
        else:
            cells, pmrr = [f"{m[k]:.4f}" if k in m else "" for k in measures], [""] if followir else []
        rows.append([display_name(r["model"]), r["task"]["name"], *pmrr, *cells])
    return header, rows


def _results_table(results: list[dict], stacked: bool) -> Table:
    header, rows = _results_rows(results, stacked=stacked)
    caption = _FOLLOWIR_CAPTION.format(" above " if stacked else " / ") if "p-MRR x100" in header else None
    table = Table(title="ifir-bench results", caption=caption)
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i < 2 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def _check_template(ctx, param, value):
    """--template: only {query} and {instruction}, and {query} present."""
    from harness.models.protocols import template_problem

    problem = template_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


def _parse_shard(ctx, param, value):
    """--shard K/N -> (K, N), 1 <= K <= N."""
    if value is None:
        return None
    k, sep, n = value.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit() and 1 <= int(k) <= int(n)):
        raise click.BadParameter(f"'{value}': use K/N with 1 <= K <= N, e.g. 2/8 (K counts from 1).")
    return int(k), int(n)


def shard_of(grid: list, shard: tuple[int, int] | None) -> list:
    """Shard K of N of the (model, task) grid: a contiguous block of the model-major grid, so each
    shard loads few models; the same arguments give every node the same split, without coordination."""
    if shard is None:
        return grid
    k, n = shard
    return grid[(k - 1) * len(grid) // n : k * len(grid) // n]


PLURAL = {"document": "documents", "query": "queries"}
MAX_INT = 2**31 - 1  # the largest depth or batch that every backend (Java's int, torch) takes


def failure(e: Exception) -> str:
    """One line for a failed model or run: an IfirError's sentence, else the exception a model's own code
    raised, by type (IFIR_BENCH_DEBUG=1 re-raises it, with its traceback)."""
    if os.environ.get("IFIR_BENCH_DEBUG") and not isinstance(e, IfirError):
        raise e
    return str(e) if isinstance(e, IfirError) else f"{type(e).__name__}: {e}"


NOTES = {
    "reused": " (existing result; --overwrite to recompute)",
    "replaced": " (replaced a result made from other data or model settings)",
}


def evaluate_all(loaded: dict, grid: list[tuple[str, str]], options, *, split: str | None) -> tuple[list[dict], list[str]]:
    """Each (model spec, task name) pair of `grid`, task by task; `loaded` maps a spec to (model,
    load seconds). A task or (model, task) that fails with an IfirError is reported in one line and
    the rest go on; returns (results, labels of the failed runs)."""
    from harness.paraphrases import paraphrase_summary
    from harness.runner import run_and_save
    from harness.tasks import load_task

    results, failed = [], []
    for name in dict.fromkeys(n for _, n in grid):
        try:
            with console.status(f"loading task {name}"):
                task = load_task(name, split=split)
        except IfirError as e:
            error(str(e))
            failed.append(name)
            continue
        for message in task.meta.get("warnings", ()):
            warning(message)
        for model, load_s in (loaded[s] for s, n in grid if n == name and s in loaded):
            shown = f"{display_name(vars(model.meta))} on {task.name}"
            try:
                path, result, status = run_and_save(model, task, options, load_seconds=load_s)
            except Exception as e:  # one model's failure (a plugin's own code included): the other runs go on
                error(f"{shown}: {failure(e)}")
                failed.append(shown)
                continue
            say(f"{shown}: {path}{NOTES.get(status, '')}")
            for message in result.get("warnings", ()):
                warning(f"{shown}: {message}")
            if options.paraphrases and paraphrase_summary(result):
                say(paraphrase_summary(result))
            results.append(result)
    return results, failed


def takes_backend(model, backend: str, quantize: str | None) -> bool:
    """Whether the model (or a stage of a pipeline) encodes with the backend and quantization asked."""
    extras = [model.meta.extra, *(stage.get("extra", {}) for stage in model.meta.extra.get("stages", []))]
    return any((e.get("backend"), e.get("quantize")) == (backend, quantize) for e in extras)


@main.command()
@click.option("--model", "models", multiple=True, required=True, help="Registered name, path, hub id, module:attr, or 'a>>b' pipeline. Repeatable.")
@click.option("--tasks", required=True, help="Comma-separated: names (sample, followir, scifact, nanobeir, ...), local dirs, hub ids.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("results"), show_default=True, help="Folder of result files: OUTPUT/<model>/<revision>/<task>.json.")
@click.option("--split", default=None, help="Qrels split of local / hub tasks (default: the task's).")
@click.option("--measures", default=None, help="Comma-separated ir_measures names, replacing the task defaults.")
@click.option("--template", default=None, callback=_check_template,
              help="How query and instruction are joined, e.g. '{instruction} {query}' (fields: {query}, {instruction}).")
@click.option("--query-prompt", default=None, help="Prompt prepended to queries, replacing the model's own ('' for none).")
@click.option("--doc-prompt", default=None, help="Prompt prepended to documents, replacing the model's own ('' for none).")
@click.option("--backend", type=click.Choice(["torch", "onnx", "openvino"]), default="torch", show_default=True, help="Inference backend of sentence-transformers models; onnx / openvino run on the CPU (pip install 'ifir-bench[cpu]').")
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="int8 weights with --backend onnx (dynamic) or openvino (weight-only); exported once into the cache.")
@click.option("--batch-size", type=click.IntRange(1, MAX_INT), default=32, show_default=True, help="Texts encoded per batch.")
@click.option("--device", default=None, help="cpu, cuda, cuda:0 or several: cuda:0,cuda:1 (multi-process encoding).")
@click.option("--top-k", type=click.IntRange(1, MAX_INT), default=1000, show_default=True, help="Depth of full retrieval.")
@click.option("--rerank-depth", type=click.IntRange(1, MAX_INT), default=100, show_default=True, help="Documents each later pipeline stage reranks.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Embedding and index cache (default $IFIR_BENCH_CACHE or ~/.cache/ifir-bench).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")
@click.option("--overwrite", is_flag=True, help="Recompute results that already exist.")
@click.option("--paraphrases", default=None, help="Also score each task under N prompt paraphrases: 'default' or a file (one a line, or JSONL).")
@click.option("--shard", default=None, callback=_parse_shard, metavar="K/N",
              help="Run only share K of N of the (model, task) grid (e.g. a Slurm array task); same results folder for all.")
def run(models, tasks, output, split, measures, template, query_prompt, doc_prompt, backend, quantize, batch_size, device, top_k, rerank_depth,
        cache_dir, no_cache, overwrite, paraphrases, shard):
    """Evaluate models on tasks; one result file per (model, task) under --output."""
    import time

    from harness.cache import default_cache_dir
    from harness.fileio import check_folder_option
    from harness.metrics import parse_measures
    from harness.models import load_model
    from harness.models.registry import check_spec
    from harness.runner import RunOptions
    from harness.tasks import check_task, expand

    measure_list = [m.strip() for m in measures.split(",") if m.strip()] if measures else None
    if measure_list:
        parse_measures(measure_list)  # a typo fails now, not after encoding
    options = RunOptions(
        output=output, top_k=top_k, batch_size=batch_size, device=device, cache_dir=cache_dir,
        use_cache=not no_cache, overwrite=overwrite, command=_command_line(), paraphrases=paraphrases,
        template=template, measures=measure_list,
        model_overrides={k: v for k, v in (("query_prompt", query_prompt), ("doc_prompt", doc_prompt)) if v is not None},
    )
    if paraphrases:
        from harness.paraphrases import load_paraphrases

        load_paraphrases(paraphrases)  # a bad file fails now, before any model loads
    names = expand(tasks)
    if not names:
        raise IfirError("--tasks names no task.")
    # Every spec, name, device and measure is checked before anything is loaded or run; a missing model
    # and a missing dataset are both reported (the model first), not only the first found.
    problems = []
    for check, item in [*((check_spec, spec) for spec in models), *((lambda n: check_task(n, split=split), n) for n in names)]:
        try:
            check(item)
        except IfirError as e:
            problems.append(str(e))
    for problem in problems[:-1]:
        error(problem)
    if problems:
        raise IfirError(problems[-1])
    check_device(device)
    check_folder_option(output, "--output")
    check_folder_option(cache_dir or default_cache_dir(), "--cache-dir")
    grid = shard_of([(spec, name) for spec in dict.fromkeys(models) for name in dict.fromkeys(names)], shard)
    if shard:
        say(f"shard {shard[0]}/{shard[1]}: {len(grid)} of the (model, task) pairs")
    loaded: dict = {}
    results, failed = [], []
    try:
        for spec in dict.fromkeys(s for s, _ in grid):
            with console.status(f"loading model {spec}"):
                t0 = time.perf_counter()
                try:
                    model = load_model(
                        spec, batch_size=batch_size, device=device, rerank_depth=rerank_depth, cache_dir=cache_dir,
                        query_prompt=query_prompt, doc_prompt=doc_prompt, backend=backend, quantize=quantize,
                    )
                except Exception as e:  # one model's failure (a plugin's own constructor included): the others still run
                    error(str(e) if isinstance(e, IfirError) else f"{spec} could not be loaded: {failure(e)}")
                    failed.append(spec)
                    continue
                if (backend != "torch" or quantize) and not takes_backend(model, backend, quantize):
                    raise IfirError(f"--backend {backend} / --quantize {quantize} apply to sentence-transformers encoders, not to '{spec}'.")
                loaded[spec] = model, round(time.perf_counter() - t0, 3)
        if loaded:
            results, failed_runs = evaluate_all(loaded, grid, options, split=split)
            failed += failed_runs
    finally:
        for model, _ in loaded.values():
            getattr(model, "close", lambda: None)()
    if results:
        out.print(results_table(results))
    if failed:
        error(f"not run: {'; '.join(failed)} (see above); every other result is saved.")
        sys.exit(1)


@main.command()
@click.option("--model", required=True, help="A dense encoder: registered name, path, hub id or module:attr.")
@click.option("--tasks", required=True, help="Comma-separated task names, local dirs or hub ids, as for run.")
@click.option("--part", required=True, callback=_parse_shard, metavar="K/N",
              help="Encode only part K of N of each corpus and query set (e.g. a Slurm array task), into its own files.")
@click.option("--split", default=None, help="Qrels split of local / hub tasks (default: the task's).")
@click.option("--template", default=None, callback=_check_template, help="As for run: changes the query texts, so give the run the same.")
@click.option("--query-prompt", default=None, help="As for run ('' for none).")
@click.option("--doc-prompt", default=None, help="As for run ('' for none).")
@click.option("--backend", type=click.Choice(["torch", "onnx", "openvino"]), default="torch", show_default=True, help="As for run.")
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="As for run.")
@click.option("--batch-size", type=click.IntRange(1, MAX_INT), default=32, show_default=True,
              help="Texts encoded per batch; every part of a set must use the same (parts are whole batches).")
@click.option("--device", default=None, help="cpu, cuda, cuda:0 or several: cuda:0,cuda:1 (one part on several GPUs).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="The embedding cache the run will read (a shared folder for a cluster).")
def encode(model, tasks, part, split, template, query_prompt, doc_prompt, backend, quantize, batch_size, device, cache_dir):
    """Encode part K of N of each task's texts into the embedding cache, for a later `run` on the same cache.

    Each part writes only its own folder (no locks across machines); a stopped part resumes where it
    was, and `run` searches the parts once all N are there."""
    from harness.cache import default_cache_dir
    from harness.fileio import check_folder_option
    from harness.models import load_model
    from harness.models.registry import check_spec
    from harness.runner import RunOptions, encode_part
    from harness.tasks import check_task, expand, load_task

    names = expand(tasks)
    if not names:
        raise IfirError("--tasks names no task.")
    for name in names:
        check_task(name, split=split)
    check_spec(model)
    check_device(device)
    check_folder_option(cache_dir or default_cache_dir(), "--cache-dir")
    options = RunOptions(batch_size=batch_size, device=device, cache_dir=cache_dir, command=_command_line(), template=template)
    with console.status(f"loading model {model}"):
        encoder = load_model(model, batch_size=batch_size, device=device, cache_dir=cache_dir, query_prompt=query_prompt,
                             doc_prompt=doc_prompt, backend=backend, quantize=quantize)
    try:
        for name in names:
            with console.status(f"loading task {name}"):
                task = load_task(name, split=split)
            for done in encode_part(encoder, task, options, part):
                rate = f", {done['encoded'] / done['seconds']:.1f}/s" if done["encoded"] and done["seconds"] > 0 else ""
                say(f"{encoder.meta.name} on {task.name}: {PLURAL[done['kind']]} part {part[0]}/{part[1]}, rows {done['start']}-{done['end']} "
                    f"of {done['rows']}: {done['encoded']} encoded now, {done['already']} already there ({done['seconds']:.1f} s{rate}); "
                    f"{done['folder']}")
    finally:
        getattr(encoder, "close", lambda: None)()
    say(f"when all {part[1]} parts are encoded, search them with the same model settings: ifir-bench run --model {shlex.quote(model)} "
        f"--tasks {shlex.quote(tasks)}{f' --cache-dir {shlex.quote(str(cache_dir))}' if cache_dir else ''} --output ...")


@main.command("tasks")
def list_tasks():
    """List registered tasks by family (size, hub id, pinned revision, main score) and the groups."""
    from harness.tasks import task_listing

    for line in task_listing():
        click.echo(line)


@main.command("models")
def list_models():
    """List registered model names (built-ins, the model catalogue, plugins), one line each, grouped by whether they run offline."""
    from harness.models import models
    from harness.models.registry import availability, description

    names = sorted(models.names(), key=str.lower)
    width = max(map(len, names))
    groups: dict[str, list[str]] = {"offline": [], "cached": [], "": []}
    for name in names:
        groups[availability(name)].append(name)
    titles = {"offline": "offline: installed packages ship these, no hub needed",
              "cached": "cached: in the local hub cache at the pinned revision, no hub needed",
              "": "hub: downloaded from the hub on first use (or pass a local folder)"}
    for key, title in titles.items():
        if groups[key]:
            say(title)
        for name in groups[key]:
            say(f"  {name:<{width}}  {description(name)}"[:80].rstrip())


@main.command("results")
@click.argument("directory", type=click.Path(path_type=Path), default=Path("results"))
@click.option("--model", "models", multiple=True, help="Only this model (name, spec or name@revision). Repeatable.")
@click.option("--task", "tasks", multiple=True, help="Only this task name. Repeatable.")
def show_results(directory, models, tasks):
    """Print the table of the result files already under DIRECTORY (default: results, where run writes them; nothing is run)."""
    from harness.results import find_results, load_result

    if not directory.is_dir():
        raise IfirError(f"{directory}: no such directory.")
    results = []
    for path in find_results(directory):
        try:
            result = load_result(path)
        except IfirError as e:
            warning(f"skipped: {e}")
            continue
        model = result["model"]
        names = {model["name"], model.get("spec"), display_name(model), f"{model['name']}@{model['revision']}"}
        if (not models or names & set(models)) and (not tasks or result["task"]["name"] in tasks):
            results.append(result)
    if not results:
        what = " matching --model/--task" if models or tasks else ""
        raise IfirError(f"{directory}: no result files{what} (they are written as <model>/<revision>/<task>.json).")
    out.print(results_table(results))


@main.command()
@click.option("--all", "everything", is_flag=True, help="Every condition whose data and model are here (default: the cheap ones, seconds each).")
@click.option("--only", default=None, help="Comma-separated condition ids (see harness/reproductions.toml).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=Path("../shared/data"), show_default=True,
              help="Folder holding local copies of the tasks (a condition's `local` folder is read from here when present).")
@click.option("--output", type=click.Path(path_type=Path), default=Path("results"), show_default=True, help="Result files, as for run (reused when their identity matches).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Embedding and index cache, as for run.")
@click.option("--overwrite", is_flag=True, help="Recompute results that already exist.")
@click.option("--page", type=click.Path(path_type=Path), default=None, help="Also write the generated Markdown page here (e.g. REPRODUCTIONS.md).")
@click.option("--conditions", "conditions_file", type=click.Path(path_type=Path), default=None,
              help="A conditions file of your own in the same format (default: the packaged harness/reproductions.toml).")
def reproduce(everything, only, data_dir, output, cache_dir, overwrite, page, conditions_file):
    """Run the reproductions of harness/reproductions.toml and report each figure as ok or off by how much."""
    from rich.table import Table

    from harness.fileio import atomic_write_text
    from harness.reproduce import CONDITIONS_FILE, load_conditions, page as render_page, run_condition, selected

    conditions = load_conditions(conditions_file or CONDITIONS_FILE)
    chosen = selected(conditions, everything=everything, only=[i.strip() for i in (only or "").split(",") if i.strip()])
    outcomes = {}
    for c in chosen:
        say(f"{c.id}: {c.model} on {c.task or c.local} ...")
        outcomes[c.id] = run_condition(c, data=data_dir, output=output, cache_dir=cache_dir, overwrite=overwrite)
    table = Table(title="ifir-bench reproduce (p-MRR x100)")
    for col in ("condition", "measure", "expected", "ours", "status"):
        table.add_column(col, justify="right" if col in ("expected", "ours") else "left")
    for o in outcomes.values():
        for k in o.checks:
            status = {"ok": "ok", "off": f"off by {shown(k.diff, k.measure, diff=True)}", "not run": "not run (below)"}[k.status]
            table.add_row(o.condition.id, k.measure, shown(k.expected, k.measure), shown(k.got, k.measure), status)
    out.print(table)
    for o in outcomes.values():  # the reasons in full, one line each (a table cell would wrap them)
        if o.reason:
            say(f"{o.condition.id}: not run: {o.reason}")
    checks = [k for o in outcomes.values() for k in o.checks]
    counts = {s: sum(k.status == s for k in checks) for s in ("ok", "off", "not run")}
    say(f"{counts['ok']} ok, {counts['off']} off, {counts['not run']} not run ({len(outcomes)} conditions)")
    if page:
        import platform
        from datetime import date

        from harness.results import git_commit

        stamp = f"{date.today().isoformat()}, commit {(git_commit() or 'unknown')[:10]}, {platform.machine()} {os.cpu_count()} CPUs"
        atomic_write_text(page, render_page(conditions, outcomes, stamp=stamp))
        say(f"wrote {page}")
    if counts["off"]:
        sys.exit(1)


@main.group()
def data():
    """Datasets: export any task to a local directory for offline machines."""


@data.command("export")
@click.argument("task")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--split", default=None, help="Qrels split to export (default: the task's).")
def export(task, directory, split):
    """Write TASK (name, hub id or directory) to DIRECTORY in the local BEIR / FollowIR layout."""
    from harness.data.export import export_task
    from harness.tasks import load_task

    out = export_task(load_task(task, split=split), directory)
    say(f"wrote {out}; run it with: ifir-bench run --model ... --tasks {out}")


COMMANDS: Registry[click.Command] = Registry("command", "ifir_bench.commands")
"""Subcommands owned by the other packages (and plugins); declared as entry points in pyproject.toml
and kept here for installs made before that."""
COMMANDS.register("train-dualview", "dualview_trainer.cli:train_dualview")
COMMANDS.register("experiment", "dualview_trainer.cli:experiment")
COMMANDS.register("leaderboard", "leaderboard.cli:leaderboard")


def _add_optional_commands() -> None:
    """Add each registered subcommand whose package imports (the trainer's needs its extra). A
    plugin that claims a built-in's name is refused with one warning line; the built-in stays."""
    names = list(COMMANDS)
    for message in COMMANDS.clashes.values():
        warning(f"{message} The built-in command is kept.")
    for name in names:
        try:
            target = COMMANDS.target(name)
            command = import_target(target) if isinstance(target, str) else target
        except (ImportError, AttributeError, IfirError):
            if os.environ.get("IFIR_BENCH_DEBUG"):
                raise
            continue
        main.add_command(command, name)


_add_optional_commands()

if __name__ == "__main__":
    main()
