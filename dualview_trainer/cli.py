"""`ifir-bench train-dualview`: a thin click shell over dualview_trainer.job.run_job."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from harness.errors import IfirError

from dualview_trainer.config import LOSSES
from dualview_trainer.pairing import ALL_MIXES, MIXES

LOSS_OPTION = click.option("--loss", type=click.Choice(LOSSES), default=None,
                           help="Overrides training.loss: pair-aware (masks the other view's copies) or mnrl (unmasked, the ablation).")


TRAIN_INSTALL = "pip install 'ifir-bench[train]'"


def check_train_extra() -> None:
    """Fail in one sentence, before any work and before anything imports transformers, when the `train`
    extra is missing: sentence-transformers' Trainer needs accelerate >= 1.1 and would otherwise fail
    with a long traceback after synthesis."""
    import importlib.util
    from importlib.metadata import version

    if importlib.util.find_spec("accelerate") is None:
        raise IfirError(f"Training needs accelerate, which the train extra installs: {TRAIN_INSTALL}.")
    found = version("accelerate")
    if tuple(int(p) for p in found.split(".")[:2] if p.isdigit()) < (1, 1):
        raise IfirError(f"Training needs accelerate >= 1.1, but {found} is installed: {TRAIN_INSTALL}.")


def llm_overrides(llm: str | None) -> dict:
    """`--llm none` or `rules` selects the LLM-free rules backend, `contrast` the key-phrase one;
    any other `--llm` the LLM backend with that model."""
    if llm is None:
        return {}
    if llm.lower() in ("none", "rules"):
        return {"synthesis.backend": "rules"}
    if llm.lower() == "contrast":
        return {"synthesis.backend": "contrast"}
    return {"synthesis.backend": "llm", "synthesis.llm": llm}


@click.command("train-dualview")
@click.option("--source", required=True, help="A BEIR directory (its train split), a JSONL of (query, instruction, positive, negative), or samaya-ai/msmarco-w-instructions / InF-IR/InF-IR.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder: the model, training_card.json, synthesis.jsonl.")
@click.option("--budget", type=int, default=32, show_default=True, help="Number of training examples.")
@click.option("--mix", type=click.Choice(MIXES), default="dual-view", show_default=True,
              help="Fill the budget with one-view examples (several per query), one example per query, or pairs with both views.")
@click.option("--config", "config", default="cpu", show_default=True, help="cpu, gpu, or a .toml file.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for example sampling, LLM sampling and batch order (recorded in the training card).")
@click.option("--base-model", default=None, help="Overrides the config: minilm, a folder or a hub id.")
@click.option("--llm", default=None, help="Overrides the config: none (the LLM-free rules backend) or contrast (key phrases); smollm2, a hub id, folder or .gguf; openai or an http(s):// base URL.")
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL for --llm openai (default $OPENAI_BASE_URL); key from $OPENAI_API_KEY.")
@click.option("--llm-model", default=None, help="Model name sent to the HTTP endpoint.")
@click.option("--no-judge", is_flag=True, help="Skip the LLM-as-judge check (the simple checks still run).")
@click.option("--synthesis-file", type=click.Path(path_type=Path), default=None, help="Where synthesized pairs go (default OUT/synthesis.jsonl); re-running resumes it.")
@click.option("--max-candidates", type=int, default=None, help="Most examples to send to the LLM (default: budget-dependent, see the config).")
@click.option("--max-steps", type=int, default=None, help="Stop training after this many steps.")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=None, help="Overrides the config's num_train_epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Overrides per_device_train_batch_size.")
@click.option("--general-fraction", type=float, default=None,
              help="Overrides training.general_fraction: this share of the budget is instruction-free rows (query alone -> positive).")
@LOSS_OPTION
@click.option("--stop-after", type=click.Choice(["synthesis"]), default=None, help="Only synthesize (e.g. before a multi-GPU launch).")
def train_dualview(source, out, budget, mix, config, seed, base_model, llm, llm_base_url, llm_model, no_judge,
                   synthesis_file, max_candidates, max_steps, epochs, batch_size, general_fraction, loss, stop_after):
    """Synthesize complementary instructions with an LLM and train an encoder on both views (Mehta et al. 2026, arXiv 2604.18845)."""
    from harness.fileio import check_folder_option
    from harness.progress import console

    if stop_after != "synthesis":
        check_train_extra()  # before synthesis, not after it
    from dualview_trainer.job import JobOptions, run_job

    check_folder_option(out, "--out")

    overrides = {
        "model.base": base_model, **llm_overrides(llm), "synthesis.judge": False if no_judge else None,
        "training.num_train_epochs": epochs, "training.per_device_train_batch_size": batch_size,
        "training.general_fraction": general_fraction, "training.loss": loss,
    }
    opts = JobOptions(
        source=source, out=out, budget=budget, mix=mix, config=config, seed=seed, synthesis_file=synthesis_file,
        max_candidates=max_candidates, max_steps=max_steps, llm_base_url=llm_base_url, llm_model=llm_model,
        stop_after_synthesis=stop_after == "synthesis", command="ifir-bench " + shlex.join(sys.argv[1:]), overrides=overrides,
    )
    run_job(opts, log=lambda m: console.print(m, highlight=False))


def _int_list(value: str, option: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of integers.", param_hint=option) from None
    if not out:
        raise click.BadParameter("give at least one value.", param_hint=option)
    return out


def _seeds(value: str) -> int | dict[int, int]:
    """--seeds: one count (5) or a count per budget (256:5,512:3)."""
    if value.strip().isdigit():
        return int(value)
    out = {}
    for part in value.split(","):
        budget, _, n = part.partition(":")
        if not (budget.strip().isdigit() and n.strip().isdigit()) or int(budget) in out:
            _bad_seeds(value)
        out[int(budget)] = int(n)
    return out


def _bad_seeds(value: str):
    raise click.BadParameter(f"'{value}' is neither a seed count (5) nor BUDGET:N pairs (256:5,512:3).", param_hint="--seeds")


@click.group("experiment")
def experiment():
    """Experiments built from dual-view training runs."""


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@experiment.command("matched-budget")
@click.option("--source", required=True, help="Training data: a BEIR directory (its train split), a JSONL of examples, or a hub dataset.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Experiment folder (pool, split, tasks, models, results, summary, site); re-running resumes it.")
@click.option("--budgets", default="256", show_default=True, help="Comma-separated training budgets (examples per model).")
@click.option("--seeds", default="5", show_default=True,
              help="Seeds 0..N-1 per (budget, mix): N for every budget, or N per budget as BUDGET:N pairs (256:5,512:3).")
@click.option("--mixes", default=",".join(ALL_MIXES), show_default=True,
              help="Comma-separated mixes: standard, diversity, dual-view, and the controls dual-view-shuffled, dual-view-contrast.")
@click.option("--general", default="", help="Comma-separated general-quality tasks scored beside the source's leak-free test queries (e.g. ../shared/data/msmarco-5k).")
@click.option("--eval", "eval_tasks", default="sample", show_default=True, help="Comma-separated outside tasks, scored once at the final stage (names, groups, directories).")
@click.option("--stage", type=click.Choice(["tune", "final"]), default="final", show_default=True,
              help="tune: train and score the probe's dev part only (choose settings there); final: score everything and freeze the settings.")
@click.option("--probe-size", type=int, default=240, show_default=True, help="Held-out pairs (half dev, half test), disjoint in content from all training records.")
@click.option("--config", default="cpu", show_default=True, help="cpu, gpu, or a .toml file.")
@click.option("--llm", default=None, help="none or rules (LLM-free backends), or an LLM as for train-dualview.")
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL for --llm openai (default $OPENAI_BASE_URL); key from $OPENAI_API_KEY.")
@click.option("--llm-model", default=None, help="Model name sent to the HTTP endpoint.")
@click.option("--learning-rate", type=float, default=None, help="Overrides the config's training.learning_rate.")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=None, help="Overrides the config's training.num_train_epochs.")
@click.option("--general-fraction", type=float, default=None,
              help="Overrides training.general_fraction: this share of every budget is instruction-free rows (query alone -> positive), the same for every mix.")
@LOSS_OPTION
@click.option("--batch-size", type=int, default=32, show_default=True, help="Encoding batch size at evaluation.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Embedding cache (default as for `ifir-bench run`).")
def matched_budget(source, out, budgets, seeds, mixes, general, eval_tasks, stage, probe_size, config, llm, llm_base_url, llm_model,
                   learning_rate, epochs, general_fraction, loss, batch_size, cache_dir):
    """Train every mix (and two controls) at matched budgets from one leak-free pool, score them, test at the seed level, build the leaderboard."""
    from harness.progress import console

    check_train_extra()
    from dualview_trainer.experiment import ExperimentOptions, run_experiment

    overrides = {**llm_overrides(llm), "training.learning_rate": learning_rate, "training.num_train_epochs": epochs,
                 "training.general_fraction": general_fraction, "training.loss": loss}
    opts = ExperimentOptions(
        source=source, out=out, budgets=_int_list(budgets, "--budgets"), seeds=_seeds(seeds), mixes=_names(mixes),
        general=_names(general), eval_tasks=_names(eval_tasks), stage=stage, probe_size=probe_size,
        config=config, batch_size=batch_size, cache_dir=cache_dir, llm_base_url=llm_base_url, llm_model=llm_model,
        command="ifir-bench " + shlex.join(sys.argv[1:]), overrides={k: v for k, v in overrides.items() if v is not None},
    )
    run_experiment(opts, log=lambda m: console.print(m, highlight=False))
