"""The whole job: examples -> synthesis (resumable) -> matched-budget rows -> training -> card."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import atomic_write_json
from harness.record import TrainingCard

from dualview_trainer.config import Config, load_config
from dualview_trainer.contrast import ContrastSynthesizer
from dualview_trainer.examples import load_examples
from dualview_trainer.llm import Sampling, load_llm
from dualview_trainer.pairing import build_rows, records_needed
from dualview_trainer.rules import Detectors, RuleSynthesizer, token_window
from dualview_trainer.split import DEV, TEST, TRAIN, Split, check_disjoint, split_pool
from dualview_trainer.synthesis import SynthesisStats, Synthesizer, Validation, synthesize
from dualview_trainer.train import resolve_base_model, train_model

CARD = "training_card.json"
CARD_SCHEMA_VERSION = 2
RECORDS = "training_records.json"
BACKENDS = ("llm", "rules", "contrast")


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


def detect_tokens(cfg: Config) -> int:
    """How much of each document the detectors read: what the encoder reads while training."""
    return cfg.synthesis.detect_tokens or cfg.training.max_seq_length or cfg.model.max_seq_length


def build_detectors(cfg: Config, documents: list[str]) -> Detectors:
    """Attribute detectors over the first `detect_tokens` tokens of each document, counted with
    the base model's tokenizer."""
    from transformers import AutoTokenizer

    path, _ = resolve_base_model(cfg.model.base)
    n = detect_tokens(cfg)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.model.trust_remote_code)
    return Detectors(documents, window=token_window(tokenizer, n), types=cfg.synthesis.constraint_types, window_size=n)


def build_synthesizer(cfg: Config, opts: JobOptions, documents: list[str], llm=None) -> Synthesizer:
    """The configured backend: `rules` or `contrast` (no LLM; an LLM given in `llm` still judges),
    or `llm`. The rules and LLM backends check the swap with the attribute detectors."""
    s = cfg.synthesis
    if s.backend not in BACKENDS:
        raise IfirError(f"{cfg.file}: [synthesis] backend: '{s.backend}' is not one of {', '.join(BACKENDS)}.")
    writer = detectors = None
    if s.backend in ("rules", "llm"):
        detectors = build_detectors(cfg, documents)
    if s.backend == "rules":
        writer = RuleSynthesizer(detectors, seed=opts.seed)
    elif s.backend == "contrast":
        writer = ContrastSynthesizer(documents, seed=opts.seed, window_words=s.contrast_window_words)
    elif llm is None:
        llm = load_llm(s.llm, base_url=opts.llm_base_url, model=opts.llm_model, concurrency=s.llm_batch_size, batch_size=s.llm_batch_size)
    return Synthesizer(
        llm, writer=writer, detectors=detectors,
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


POOL_SEED = 0
"""An LLM-free pool is written once, at this seed, whatever seed a model trains under: every model
of a source (and the experiment's) draws from the same pool and the same leak-free split."""
PROBE_SIZE = 240
"""Held-out pairs (half dev, half test) the leak-free split keeps out of every training row."""


@dataclass
class Pool:
    """The synthesized records of a source and the leak-free split of them."""

    records: list[dict]
    stats: SynthesisStats
    synthesizer: Synthesizer
    source_split: str
    file: Path
    split: Split

    def train_records(self) -> list[dict]:
        """Kept records a model may train on: those of the split's training part."""
        return [r for r in self.records if self.split.part(r["id"]) == TRAIN]

    def probe(self, part: str) -> list[dict]:
        ids = set(getattr(self.split, part))
        return [r for r in self.records if r["id"] in ids]


def synthesize_pool(cfg: Config, opts: JobOptions, need: int, *, log=print, llm=None, probe_size: int | None = None) -> Pool:
    """Candidate examples from the source, written and validated (resumable), and held out by
    content. LLM-free backends write every candidate of the source at `POOL_SEED` and hold out
    `PROBE_SIZE` pairs; an LLM writes until `need` are kept plus `probe_size` (default none: LLM
    pairs are dear on a CPU)."""
    free = cfg.synthesis.backend in ("rules", "contrast")
    if probe_size is None:
        probe_size = PROBE_SIZE if free else 0
    if free:
        max_candidates, target = opts.max_candidates or 10**9, None
    else:
        target = need + probe_size
        max_candidates = opts.max_candidates or target * cfg.synthesis.max_candidates_factor
    seed = POOL_SEED if free else opts.seed
    synthesis_file = Path(opts.synthesis_file or Path(opts.out) / "synthesis.jsonl")
    examples, source_split, documents = load_examples(opts.source, limit=max_candidates, seed=seed, mining=cfg.mining)
    if not examples:
        raise IfirError(f"{opts.source}: no usable training examples.")
    log(f"{len(examples)} candidate examples from {opts.source} (split {source_split}); need {need} kept pairs to train on"
        + (f" and {probe_size} to hold out" if probe_size else ""))
    synthesizer = build_synthesizer(cfg, replace(opts, seed=seed), documents, llm)
    records, stats = synthesize(examples, synthesizer, synthesis_file, target_kept=target, log=lambda m: log(f"  {m}"))
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected_by_reason.items())) or "none"
    log(f"synthesis ({synthesizer.provenance()['llm']['backend']}): {stats.kept} pairs kept, {stats.rejected} rejected ({reasons}); "
        f"{stats.resumed} resumed from {synthesis_file}")
    if stats.kept == 0 and not opts.stop_after_synthesis:
        raise IfirError(
            f"every synthesized instruction was rejected ({stats.rejected}: {reasons}), so there is nothing to train on; "
            f"see {synthesis_file}. Use a stronger --llm (or --llm none), raise --max-candidates, or pass --no-judge."
        )
    split = split_pool(records, probe_size=probe_size, seed=POOL_SEED)
    log(f"held out by content: {len(split.dev)} dev and {len(split.test)} test pairs; {len(split.train)} pairs to train on, "
        f"{len(split.dropped)} left out (they share a query, document or name with a held-out pair)")
    return Pool(records, stats, synthesizer, source_split, synthesis_file, split)


def train_from_pool(cfg: Config, opts: JobOptions, pool: Pool, *, log=print, callbacks=None, records: list[dict] | None = None) -> dict:
    """Train one model on `opts.budget` rows of `opts.mix` drawn from the pool's training part
    (or from `records`: a control's pool under the same split); write its card."""
    out = Path(opts.out)
    train = records if records is not None else pool.train_records()
    rows, accounting = build_rows(train, budget=opts.budget, mix=opts.mix, seed=opts.seed,
                                  general_fraction=cfg.training.general_fraction)
    check_disjoint([r for r in train if r["id"] in set(accounting["record_ids"])], pool.probe(DEV) + pool.probe(TEST))
    base_path, base = resolve_base_model(cfg.model.base)
    pairs = accounting["n_pairs"] or len(accounting["record_ids"])
    log(f"training {base['name']} on {accounting['n_examples']} training examples from {pairs} kept pairs "
        f"({opts.mix}: {accounting['n_queries']} queries), config {cfg.file}")
    result = train_model(rows, cfg, out, base_path=base_path, seed=opts.seed, max_steps=opts.max_steps, callbacks=callbacks, log=log)
    chosen = [r for r in train if r["id"] in set(accounting["record_ids"])]
    card = make_card(cfg, opts, base, pool, accounting, chosen, result)
    if result["main_process"]:
        atomic_write_json(out / RECORDS, {"record_ids": accounting["record_ids"]})
        atomic_write_json(out / CARD, card)
    return card


def run_job(opts: JobOptions, *, log=print, llm=None, callbacks=None) -> dict:
    """Synthesize and train as `opts` says; returns the training card (also written to `<out>/training_card.json`).
    With `stop_after_synthesis`, returns the synthesis summary instead."""
    cfg = load_config(opts.config, opts.overrides)
    need = records_needed(opts.budget, opts.mix, cfg.training.general_fraction)
    pool = synthesize_pool(cfg, opts, need, log=log, llm=llm)
    if opts.stop_after_synthesis:
        return {"synthesis_file": str(pool.file), **pool.stats.to_dict()}
    card = train_from_pool(cfg, opts, pool, log=log, callbacks=callbacks)
    log(f"model and {CARD} in {opts.out}; {card['examples_per_second']} training examples/s; "
        f"score it with: ifir-bench run --model {opts.out} --tasks sample")
    return card


def make_card(cfg: Config, opts: JobOptions, base: dict, pool: Pool, accounting: dict, chosen: list[dict], result: dict) -> dict:
    """The training card; paths in it are relative (the source as given or to the working
    directory, the synthesis file to the model folder). It records the backend, the constraint
    types trained on and the leak-free split (the ids trained on are in `training_records.json`)."""
    prov = pool.synthesizer.provenance()
    ids = accounting["record_ids"]
    data = {k: v for k, v in accounting.items() if k != "record_ids"}
    return TrainingCard.from_dict({
        "schema_version": CARD_SCHEMA_VERSION,
        "base_model": base,
        "data": {
            "source": portable_path(opts.source), "split": pool.source_split, "budget": opts.budget, "mix": opts.mix, **data,
            "synthesis_file": portable_path(Path(pool.file).resolve(), Path(opts.out).resolve()), **pool.stats.to_dict(),
            "constraint_types": dict(sorted(Counter((r.get("constraint") or {}).get("type", "key phrase") for r in chosen).items())),
            "held_out": pool.split.summary(),
            "records": {"file": RECORDS, "n": len(ids), "digest": "sha256:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]},
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
    }, path=Path(opts.out) / CARD).to_dict()
