"""The whole job: examples -> synthesis (resumable) -> matched-budget rows -> training -> card."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import atomic_write_json

from dualview_trainer.config import load_config
from dualview_trainer.examples import load_examples
from dualview_trainer.llm import Sampling, load_llm
from dualview_trainer.pairing import build_rows, records_needed
from dualview_trainer.synthesis import SynthesisStats, Synthesizer, Validation, synthesize
from dualview_trainer.train import resolve_base_model, train_model

CARD = "training_card.json"
CARD_SCHEMA_VERSION = 1


@dataclass
class JobOptions:
    source: str
    out: Path
    budget: int = 32
    mix: str = "dual-view"
    config: str = "cpu"
    seed: int = 0
    synthesis_file: Path | None = None
    max_candidates: int | None = None
    max_steps: int | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    stop_after_synthesis: bool = False
    command: str | None = None
    overrides: dict | None = None


def build_synthesizer(cfg: dict, opts: JobOptions, llm=None) -> Synthesizer:
    s = cfg["synthesis"]
    llm = llm or load_llm(s["llm"], base_url=opts.llm_base_url, model=opts.llm_model,
                          concurrency=int(s.get("llm_batch_size", 8)), batch_size=int(s.get("llm_batch_size", 8)))
    return Synthesizer(
        llm,
        sampling=Sampling(float(s["temperature"]), float(s["top_p"]), int(s["max_new_tokens"]), opts.seed),
        validation=Validation(bool(s.get("judge", True)), tuple(s.get("judge_views", ("original", "complement"))),
                              int(s.get("min_words", 3)), int(s.get("max_words", 60))),
        doc_words=int(s.get("doc_words", 60)),
        chunk_size=int(s.get("llm_batch_size", 8)),
    )


def run_job(opts: JobOptions, *, log=print, llm=None, callbacks=None) -> dict:
    """Synthesize and train as `opts` says; returns the training card (also written to `<out>/training_card.json`).
    With `stop_after_synthesis`, returns the synthesis summary instead."""
    cfg = load_config(opts.config, opts.overrides)
    need = records_needed(opts.budget, opts.mix)
    max_candidates = opts.max_candidates or need * int(cfg["synthesis"].get("max_candidates_factor", 4))
    out = Path(opts.out)
    synthesis_file = Path(opts.synthesis_file or out / "synthesis.jsonl")

    examples, split = load_examples(opts.source, limit=max_candidates, seed=opts.seed,
                                    miner=cfg["mining"]["miner"], model=cfg["mining"].get("model", "minilm"))
    if not examples:
        raise IfirError(f"{opts.source}: no usable training examples.")
    log(f"{len(examples)} candidate examples from {opts.source} (split {split}); need {need} kept for --budget {opts.budget} --mix {opts.mix}")
    synthesizer = build_synthesizer(cfg, opts, llm)
    records, stats = synthesize(examples, synthesizer, synthesis_file, target_kept=need, log=lambda m: log(f"  {m}"))
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected_by_reason.items())) or "none"
    log(f"synthesis: {stats.kept} kept, {stats.rejected} rejected ({reasons}); {stats.resumed} resumed from {synthesis_file}")
    summary = {"synthesis_file": str(synthesis_file), **stats.to_dict()}
    if opts.stop_after_synthesis:
        return summary
    if stats.kept == 0:
        raise IfirError(
            f"every synthesized instruction was rejected ({stats.rejected}: {reasons}), so there is nothing to train on; "
            f"see {synthesis_file}. Use a stronger --llm, raise --max-candidates, or pass --no-judge."
        )
    rows, accounting = build_rows(records, budget=opts.budget, mix=opts.mix, seed=opts.seed)
    base_path, base = resolve_base_model(cfg["model"]["base"])
    log(f"training {base['name']} on {accounting['n_examples']} examples ({opts.mix}), config {cfg['file']}")
    result = train_model(rows, cfg, out, base_path=base_path, seed=opts.seed, max_steps=opts.max_steps, callbacks=callbacks)
    card = make_card(cfg, opts, base, split, accounting, synthesis_file, stats, synthesizer, result)
    if result["main_process"]:
        atomic_write_json(out / CARD, card)
    log(f"model and {CARD} in {out}; {result['examples_per_second']} examples/s; score it with: ifir-bench run --model {out} --tasks sample")
    return card


def make_card(cfg, opts: JobOptions, base: dict, split: str, accounting: dict, synthesis_file: Path,
              stats: SynthesisStats, synthesizer: Synthesizer, result: dict) -> dict:
    prov = synthesizer.provenance()
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "base_model": base,
        "data": {
            "source": opts.source, "split": split, "budget": opts.budget, "mix": opts.mix, **accounting,
            "synthesis_file": str(synthesis_file), **stats.to_dict(),
        },
        "llm": {"backend": prov["llm"]["backend"], "model": prov["llm"]["model"], "prompt_hash": prov["prompt_hash"],
                "sampling": {**prov["sampling"], "judge": prov["judge"]}},
        "config": {**cfg, "max_steps": opts.max_steps},
        "seed": opts.seed,
        "seconds": result["seconds"],
        "examples_per_second": result["examples_per_second"],
        "loss_curve": result["loss_curve"],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": opts.command or "python: " + shlex.join(sys.argv),
    }
