"""`ifir-bench`: a thin click shell over harness functions (and the trainer and leaderboard)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click
from rich.table import Table

from harness.console import console, error, say
from harness.errors import IfirError


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


def results_table(results: list[dict]) -> Table:
    """One row per (model, task): p-MRR x100 for FollowIR tasks, then each measure (og run vs og
    qrels for FollowIR, with the changed run's value after a slash)."""
    measures = sorted({m for r in results for m in _shown_measures(r["task"])}, key=lambda m: (m[0] != "n", m))
    table = Table(title="ifir-bench results", caption="FollowIR: og run vs og qrels / changed run vs changed qrels")
    for col in ("model", "task", "p-MRR x100", *measures):
        table.add_column(col, justify="left" if col in ("model", "task") else "right")
    for r in results:
        m = r["metrics"]
        if r["task"]["kind"] == "instruction-reranking":
            cells = [f"{m['og'][k]:.4f} / {m['changed'][k]:.4f}" if k in m["og"] else "" for k in measures]
            pmrr = f"{100 * m['p-MRR']:+.2f}"
        else:
            cells, pmrr = [f"{m[k]:.4f}" if k in m else "" for k in measures], ""
        table.add_row(r["model"].get("spec") or r["model"]["name"], r["task"]["name"], pmrr, *cells)
    return table


@main.command()
@click.option("--model", "models", multiple=True, required=True, help="Registered name, path, hub id, module:attr, or 'a>>b' pipeline. Repeatable.")
@click.option("--tasks", required=True, help="Comma-separated: names (sample, followir, scifact, nanobeir, ...), local dirs, hub ids.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--split", default=None, help="Qrels split of local / hub tasks (default: the task's).")
@click.option("--measures", default=None, help="Comma-separated ir_measures names, replacing the task defaults.")
@click.option("--template", default=None, help="How query and instruction are joined, e.g. '{instruction} {query}'.")
@click.option("--query-prompt", default=None, help="Prompt prepended to queries, replacing the model's own ('' for none).")
@click.option("--doc-prompt", default=None, help="Prompt prepended to documents, replacing the model's own ('' for none).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:0 or several: cuda:0,cuda:1 (multi-process encoding).")
@click.option("--top-k", type=int, default=1000, show_default=True, help="Depth of full retrieval.")
@click.option("--rerank-depth", type=int, default=100, show_default=True, help="Documents each later pipeline stage reranks.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Embedding and index cache (default $IFIR_BENCH_CACHE or ~/.cache/ifir-bench).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")
@click.option("--overwrite", is_flag=True, help="Recompute results that already exist.")
@click.option("--paraphrases", default=None, help="Also score each task under N prompt paraphrases: 'default' or a file (one a line, or JSONL).")
def run(models, tasks, output, split, measures, template, query_prompt, doc_prompt, batch_size, device, top_k, rerank_depth, cache_dir, no_cache, overwrite, paraphrases):
    """Evaluate models on tasks; one result file per (model, task) under --output."""
    from harness.models import load_model
    from harness.runner import RunOptions, run_and_save
    from harness.tasks import expand, load_task

    options = RunOptions(
        output=output, top_k=top_k, batch_size=batch_size, device=device, cache_dir=cache_dir,
        use_cache=not no_cache, overwrite=overwrite, command=_command_line(), paraphrases=paraphrases,
    )
    if paraphrases:
        from harness.paraphrases import load_paraphrases, paraphrase_summary

        load_paraphrases(paraphrases)  # a bad file fails now, before any model loads
    measure_list = [m.strip() for m in measures.split(",")] if measures else None
    names = expand(tasks)
    if not names:
        raise IfirError("--tasks names no task.")
    loaded = []
    for spec in models:
        with console.status(f"loading model {spec}"):
            model = load_model(
                spec, batch_size=batch_size, device=device, rerank_depth=rerank_depth, cache_dir=cache_dir,
                query_prompt=query_prompt, doc_prompt=doc_prompt,
            )
        if template:
            model.meta.query_template = template
        loaded.append(model)
    results = []
    try:
        for name in names:
            with console.status(f"loading task {name}"):
                task = load_task(name, split=split, measures=measure_list)
            for model in loaded:
                path, result, fresh = run_and_save(model, task, options)
                note = "" if fresh else " (existing result; --overwrite to recompute)"
                say(f"{model.meta.name} on {task.name}: {path}{note}")
                if paraphrases and paraphrase_summary(result):
                    say(paraphrase_summary(result))
                results.append(result)
    finally:
        for model in loaded:
            getattr(model, "close", lambda: None)()
    console.print(results_table(results))


@main.command("tasks")
def list_tasks():
    """List registered tasks by family (size, hub id, pinned revision, main score) and the groups."""
    from harness.tasks import task_listing

    for line in task_listing():
        click.echo(line)


@main.command("models")
def list_models():
    """List registered model names (built-ins, the model catalogue, plugins), one line each."""
    from harness.models import models
    from harness.models.registry import description

    names = sorted(models.names(), key=str.lower)
    width = max(map(len, names))
    for name in names:
        say(f"{name:<{width}}  {description(name)}"[:80].rstrip())


@main.group()
def data():
    """Datasets: export any task to a local directory for offline machines."""


@data.command("export")
@click.argument("task")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--split", default=None)
def export(task, directory, split):
    """Write TASK (name, hub id or directory) to DIRECTORY in the local BEIR / FollowIR layout."""
    from harness.data.export import export_task
    from harness.tasks import load_task

    out = export_task(load_task(task, split=split), directory)
    say(f"wrote {out}; run it with: ifir-bench run --model ... --tasks {out}")


def _add_optional_commands() -> None:
    """Subcommands owned by the other packages, added when importable."""
    import importlib

    for target in ("dualview_trainer.cli:train_dualview", "leaderboard.cli:leaderboard"):
        module, _, attr = target.partition(":")
        try:
            command = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            if os.environ.get("IFIR_BENCH_DEBUG"):
                raise
            continue
        main.add_command(command)


_add_optional_commands()

if __name__ == "__main__":
    main()
