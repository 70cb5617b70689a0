"""`ifir-bench train-dualview`: a thin click shell over dualview_trainer.pipeline.run_job."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


@click.command("train-dualview")
@click.option("--source", required=True, help="A BEIR directory (its train split), a JSONL of (query, instruction, positive, negative), or samaya-ai/msmarco-w-instructions / InF-IR/InF-IR.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder: the model, training_card.json, synthesis.jsonl.")
@click.option("--budget", type=int, default=32, show_default=True, help="Number of training examples.")
@click.option("--mix", type=click.Choice(["standard", "diversity", "dual-view"]), default="dual-view", show_default=True, help="Fill the budget with one-view examples, distinct queries, or pairs with both views.")
@click.option("--config", "config", default="cpu", show_default=True, help="cpu, gpu, or a .toml file.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for example sampling, LLM sampling and batch order (recorded in the training card).")
@click.option("--base-model", default=None, help="Overrides the config: minilm, a folder or a hub id.")
@click.option("--llm", default=None, help="Overrides the config: smollm2, a hub id, folder or .gguf; openai or an http(s):// base URL.")
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL for --llm openai (default $OPENAI_BASE_URL); key from $OPENAI_API_KEY.")
@click.option("--llm-model", default=None, help="Model name sent to the HTTP endpoint.")
@click.option("--no-judge", is_flag=True, help="Skip the LLM-as-judge check (the simple checks still run).")
@click.option("--synthesis-file", type=click.Path(path_type=Path), default=None, help="Where synthesized pairs go (default OUT/synthesis.jsonl); re-running resumes it.")
@click.option("--max-candidates", type=int, default=None, help="Most examples to send to the LLM (default: budget-dependent, see the config).")
@click.option("--max-steps", type=int, default=None, help="Stop training after this many steps.")
@click.option("--epochs", type=float, default=None, help="Overrides the config's num_train_epochs.")
@click.option("--batch-size", type=int, default=None, help="Overrides per_device_train_batch_size.")
@click.option("--stop-after", type=click.Choice(["synthesis"]), default=None, help="Only synthesize (e.g. before a multi-GPU launch).")
def train_dualview(source, out, budget, mix, config, seed, base_model, llm, llm_base_url, llm_model, no_judge,
                   synthesis_file, max_candidates, max_steps, epochs, batch_size, stop_after):
    """Synthesize complementary instructions with an LLM and train an encoder on both views."""
    from harness.progress import console

    from dualview_trainer.pipeline import JobOptions, run_job

    overrides = {
        "model.base": base_model, "synthesis.llm": llm, "synthesis.judge": False if no_judge else None,
        "training.num_train_epochs": epochs, "training.per_device_train_batch_size": batch_size,
    }
    opts = JobOptions(
        source=source, out=out, budget=budget, mix=mix, config=config, seed=seed, synthesis_file=synthesis_file,
        max_candidates=max_candidates, max_steps=max_steps, llm_base_url=llm_base_url, llm_model=llm_model,
        stop_after_synthesis=stop_after == "synthesis", command="ifir-bench " + shlex.join(sys.argv[1:]), overrides=overrides,
    )
    run_job(opts, log=lambda m: console.print(m, highlight=False))
