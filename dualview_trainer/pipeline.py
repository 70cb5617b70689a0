"""The whole job: examples -> synthesis (resumable) -> matched-budget rows -> training -> card."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import atomic_write_json

from dualview_trainer.config import Config, load_config
from dualview_trainer.contrast import ContrastSynthesizer
from dualview_trainer.examples import load_examples
from dualview_trainer.llm import Sampling, load_llm
from dualview_trainer.pairing import build_rows, records_needed
from dualview_trainer.synthesis import SynthesisStats, Synthesizer, Validation, synthesize
from dualview_trainer.train import resolve_base_model, train_model

CARD = "training_card.json"
CARD_SCHEMA_VERSION = 1
BACKENDS = ("llm", "contrast")


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


def build_synthesizer(cfg: Config, opts: JobOptions, documents: list[str], llm=None) -> Synthesizer:
    """The contrast backend (no LLM; an LLM given in `llm` still judges) or the configured LLM."""
    s = cfg.synthesis
    if s.backend not in BACKENDS:
        raise IfirError(f"{cfg.file}: [synthesis] backend: '{s.backend}' is not one of {', '.join(BACKENDS)}.")
    contrast = None
    if s.backend == "contrast":
        contrast = ContrastSynthesizer(documents, seed=opts.seed, window_words=s.contrast_window_words)
    elif llm is None:
        llm = load_llm(s.llm, base_url=opts.llm_base_url, model=opts.llm_model, concurrency=s.llm_batch_size, batch_size=s.llm_batch_size)
    return Synthesizer(
        llm, contrast=contrast,
        sampling=Sampling(s.temperature, s.top_p, s.max_new_tokens, opts.seed),
        validation=Validation(s.judge, tuple(s.judge_views), s.min_words, s.max_words, swap_check=s.swap_check),
        doc_words=s.doc_words,
        chunk_size=s.llm_batch_size,
    )


def portable_path(path: str | Path, start: Path | None = None) -> str:
    """`path` relative to `start` (default: the working directory), as it is recorded in cards:
    no absolute path of the machine that trained. A hub id or a relative path stays as given."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        return os.path.relpath(p, start or Path.cwd())
    except ValueError:  # another drive (Windows)
        return p.name


def synthesize_pool(cfg: Config, opts: JobOptions, need: int, *, log=print, llm=None) -> tuple[list[dict], SynthesisStats, Synthesizer, str, Path]:
    """Candidate examples from the source, written and validated until `need` are kept (resumable).
    Returns (records, stats, synthesizer, split, synthesis file)."""
    max_candidates = opts.max_candidates or need * cfg.synthesis.max_candidates_factor
    if cfg.synthesis.backend == "contrast":
        max_candidates = opts.max_candidates or max(max_candidates, 2 * need)
    synthesis_file = Path(opts.synthesis_file or Path(opts.out) / "synthesis.jsonl")
    examples, split, documents = load_examples(opts.source, limit=max_candidates, seed=opts.seed, miner=cfg.mining.miner,
                                               model=cfg.mining.model, depth=cfg.mining.depth)
    if not examples:
        raise IfirError(f"{opts.source}: no usable training examples.")
    log(f"{len(examples)} candidate examples from {opts.source} (split {split}); need {need} kept")
    synthesizer = build_synthesizer(cfg, opts, documents, llm)
    records, stats = synthesize(examples, synthesizer, synthesis_file, target_kept=need, log=lambda m: log(f"  {m}"))
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected_by_reason.items())) or "none"
    log(f"synthesis ({synthesizer.provenance()['llm']['backend']}): {stats.kept} kept, {stats.rejected} rejected ({reasons}); "
        f"{stats.resumed} resumed from {synthesis_file}")
    if stats.kept == 0 and not opts.stop_after_synthesis:
        raise IfirError(
            f"every synthesized instruction was rejected ({stats.rejected}: {reasons}), so there is nothing to train on; "
            f"see {synthesis_file}. Use a stronger --llm (or --llm none), raise --max-candidates, or pass --no-judge."
        )
    return records, stats, synthesizer, split, synthesis_file


def train_from_pool(cfg: Config, opts: JobOptions, records: list[dict], stats: SynthesisStats, synthesizer: Synthesizer,
                    split: str, synthesis_file: Path, *, log=print, callbacks=None) -> dict:
    """Train one model on `opts.budget` rows of `opts.mix` drawn from the kept records; write its card."""
    out = Path(opts.out)
    rows, accounting = build_rows(records, budget=opts.budget, mix=opts.mix, seed=opts.seed,
                                  general_fraction=cfg.training.general_fraction)
    base_path, base = resolve_base_model(cfg.model.base)
    log(f"training {base['name']} on {accounting['n_examples']} examples ({opts.mix}), config {cfg.file}")
    result = train_model(rows, cfg, out, base_path=base_path, seed=opts.seed, max_steps=opts.max_steps, callbacks=callbacks)
    card = make_card(cfg, opts, base, split, accounting, synthesis_file, stats, synthesizer, result)
    if result["main_process"]:
        atomic_write_json(out / CARD, card)
    return card


def run_job(opts: JobOptions, *, log=print, llm=None, callbacks=None) -> dict:
    """Synthesize and train as `opts` says; returns the training card (also written to `<out>/training_card.json`).
    With `stop_after_synthesis`, returns the synthesis summary instead."""
    cfg = load_config(opts.config, opts.overrides)
    need = records_needed(opts.budget, opts.mix, cfg.training.general_fraction)
    records, stats, synthesizer, split, synthesis_file = synthesize_pool(cfg, opts, need, log=log, llm=llm)
    if opts.stop_after_synthesis:
        return {"synthesis_file": str(synthesis_file), **stats.to_dict()}
    card = train_from_pool(cfg, opts, records, stats, synthesizer, split, synthesis_file, log=log, callbacks=callbacks)
    log(f"model and {CARD} in {opts.out}; {card['examples_per_second']} examples/s; score it with: ifir-bench run --model {opts.out} --tasks sample")
    return card


def make_card(cfg: Config, opts: JobOptions, base: dict, split: str, accounting: dict, synthesis_file: Path,
              stats: SynthesisStats, synthesizer: Synthesizer, result: dict) -> dict:
    """The training card; paths in it are relative (the source as given or to the working
    directory, the synthesis file to the model folder)."""
    prov = synthesizer.provenance()
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "base_model": base,
        "data": {
            "source": portable_path(opts.source), "split": split, "budget": opts.budget, "mix": opts.mix, **accounting,
            "synthesis_file": portable_path(Path(synthesis_file).resolve(), Path(opts.out).resolve()), **stats.to_dict(),
        },
        "llm": {"backend": prov["llm"]["backend"], "model": prov["llm"]["model"], "prompt_hash": prov["prompt_hash"],
                "sampling": {**prov["sampling"], "judge": prov["judge"], "swap_check": prov["swap_check"]}},
        "config": {**cfg.to_dict(), "max_steps": opts.max_steps},
        "seed": opts.seed,
        "seconds": result["seconds"],
        "examples_per_second": result["examples_per_second"],
        "loss_curve": result["loss_curve"],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": opts.command or "python: " + shlex.join(sys.argv),
    }
