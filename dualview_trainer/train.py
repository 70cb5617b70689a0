"""Training with sentence-transformers' Trainer on pair-aligned batches and a GradCache loss;
checkpoints in `<out>/checkpoints` let an interrupted run resume; the final folder is a
sentence-transformers model that `ifir-bench run --model <out>` scores."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import atomic_write_json
from harness.models.protocols import identity_hash

from dualview_trainer.config import Config
from dualview_trainer.loss import PairBatchSampler, make_loss

CHECKPOINTS = "checkpoints"
RUN_IDENTITY = "run.json"  # in the checkpoints folder: what its checkpoints were trained on
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
def resolve_base_model(spec: str) -> tuple[str, dict]:
    """(local folder, {name, revision}) for `minilm` (bundled), a folder or a hub id[@revision]."""
    from harness.models.dense import bundled_minilm_path
    from harness.models.locate import locate_model, path_fingerprint

    if spec == "minilm":
        path = bundled_minilm_path()
        return path, {"name": MINILM_NAME, "revision": path_fingerprint(path)}
    folder, name, revision = locate_model(spec, kind="model", required=("config.json",), option="--base-model")
    return folder, {"name": name, "revision": revision}


def warmup_steps(cfg: Config, steps_per_epoch: int, max_steps: int | None) -> int:
    """`warmup_ratio` as a step count: transformers 5 reads a fractional `warmup_steps` as a ratio
    and 4.x does not, so the count is computed here."""
    total = max_steps if max_steps else math.ceil(cfg.training.num_train_epochs * steps_per_epoch)
    return int(round(cfg.training.warmup_ratio * total))


def base_prompts(model) -> dict[str, str] | None:
    """The trainer's `prompts` (per dataset column) from the model's own query/document prompts,
    so that training sees the texts evaluation encodes; None where the model declares none."""
    prompts = getattr(model, "prompts", None) or {}
    query, document = prompts.get("query", ""), prompts.get("document", prompts.get("passage", ""))
    if not (query or document):
        return None
    return {"anchor": query, "positive": document, "negative": document}


def training_arguments(cfg: Config, output_dir: Path, *, seed: int, max_steps: int | None, warmup: int = 0, prompts: dict | None = None):
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments

    t = cfg.training
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.per_device_train_batch_size,
        learning_rate=t.learning_rate,
        num_train_epochs=t.num_train_epochs,
        max_steps=int(max_steps) if max_steps else -1,
        warmup_steps=warmup,
        weight_decay=t.weight_decay,
        bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps,
        dataloader_num_workers=t.dataloader_num_workers,
        seed=seed,
        data_seed=seed,
        batch_sampler=PairBatchSampler,
        prompts=prompts,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),  # else a UserWarning on every CPU run
    )


def run_identity(rows: list[dict], cfg: Config, *, seed: int, max_steps: int | None) -> dict:
    """What a checkpoint's training depends on: the rows (a digest), the model and training
    settings, the seed and the step limit."""
    return {"rows": "sha256:" + identity_hash(rows, 64), "n_rows": len(rows), "model": dataclasses.asdict(cfg.model),
            "training": dataclasses.asdict(cfg.training), "seed": seed, "max_steps": int(max_steps) if max_steps else None}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def check_resume(ckpt_dir: Path, identity: dict) -> str | None:
    """The checkpoint to resume from, if any; an error when it was trained on other rows or
    settings (resuming would mix two runs into one model), naming what changed."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    path = ckpt_dir / RUN_IDENTITY
    if last is None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, identity)
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    then, now = _flat(saved) if isinstance(saved, dict) else {}, _flat(json.loads(json.dumps(identity)))
    changed = [f"{k}: {then.get(k)!r} -> {now[k]!r}" for k in now if then.get(k) != now[k]]
    if changed:
        what = "; ".join(changed[:4]) + (f"; and {len(changed) - 4} more" if len(changed) > 4 else "")
        if saved is None:
            what = f"{path} is missing or damaged, so they may come from other settings"
        raise IfirError(f"{ckpt_dir} holds checkpoints of a run with other rows or settings ({what}): delete that folder "
                        "to train from the start with these settings, or use another --out.")
    return last


def loss_log(log):
    """A Trainer callback that reports each logged loss through `log` (in place of the Trainer's printed dicts)."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs and "loss" in logs:
                log(f"  step {state.global_step} of {state.max_steps}: loss {float(logs['loss']):.4f}")

    return LossLog()


def train_model(rows: list[dict], cfg: Config, out_dir: Path, *, base_path: str, seed: int,
                max_steps: int | None = None, callbacks: list | None = None, log=None) -> dict:
    """Train on `rows` (anchor, positive, negative, label=group) and save the model in `out_dir`.

    Resumes from the last checkpoint in `<out_dir>/checkpoints` when there is one. Returns
    {seconds, examples_per_second, loss_curve, steps, resumed_from}."""
    import datasets
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from transformers import PrinterCallback

    out_dir = Path(out_dir)
    ckpt_dir = out_dir / CHECKPOINTS
    last = check_resume(ckpt_dir, run_identity(rows, cfg, seed=seed, max_steps=max_steps))
    if cfg.training.bf16 and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        raise IfirError("This config trains in bf16, which needs a GPU that supports it: use --config cpu (or a config with bf16 = false).")
    model = SentenceTransformer(base_path, trust_remote_code=cfg.model.trust_remote_code)
    model.max_seq_length = cfg.training.max_seq_length or cfg.model.max_seq_length
    dataset = datasets.Dataset.from_list(rows).select_columns(["anchor", "positive", "negative", "label"])
    batch_size = cfg.training.per_device_train_batch_size
    steps_per_epoch = len(PairBatchSampler(dataset, batch_size=batch_size, drop_last=False, seed=seed))
    args = training_arguments(cfg, ckpt_dir, seed=seed, max_steps=max_steps, warmup=warmup_steps(cfg, steps_per_epoch, max_steps),
                              prompts=base_prompts(model))
    loss = make_loss(model, cfg.training)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss,
                                         callbacks=[*(callbacks or []), *([loss_log(log)] if log else [])])
    trainer.remove_callback(PrinterCallback)  # it prints raw dicts beside the log's lines
    start_step = int(last.rsplit("-", 1)[-1]) if last else 0
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - t0
    state = trainer.state
    steps_now = max(state.global_step - start_step, 0)
    main = trainer.is_world_process_zero()  # under torchrun, only rank 0 writes the final folder
    if main:
        model.max_seq_length = cfg.model.max_seq_length  # evaluation encodes as the base model does
        model.save(str(out_dir))
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return {
        "main_process": main,
        "seconds": round(seconds, 2),
        "examples_per_second": round(steps_now * len(rows) / steps_per_epoch / seconds, 3) if seconds > 0 else None,
        "loss_curve": [[h["step"], round(h["loss"], 5)] for h in state.log_history if "loss" in h],
        "steps": state.global_step,
        "warmup_steps": args.warmup_steps,
        "resumed_from": last,
    }
