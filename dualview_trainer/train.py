"""Training with sentence-transformers' Trainer on pair-aligned batches and a GradCache loss;
checkpoints in `<out>/checkpoints` let an interrupted run resume; the final folder is a
sentence-transformers model that `ifir-bench run --model <out>` scores."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness.errors import IfirError

from dualview_trainer.loss import PairAwareCachedMNRL
from dualview_trainer.pairing import PairBatchSampler

CHECKPOINTS = "checkpoints"
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


def training_arguments(cfg: dict, output_dir: Path, *, seed: int, max_steps: int | None):
    from sentence_transformers import SentenceTransformerTrainingArguments

    t = cfg["training"]
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=int(t["per_device_train_batch_size"]),
        learning_rate=float(t["learning_rate"]),
        num_train_epochs=float(t["num_train_epochs"]),
        max_steps=int(max_steps) if max_steps else -1,
        warmup_steps=float(t.get("warmup_ratio", 0.0)),
        weight_decay=float(t.get("weight_decay", 0.0)),
        bf16=bool(t.get("bf16", False)),
        gradient_checkpointing=bool(t.get("gradient_checkpointing", False)),
        save_strategy="steps",
        save_steps=int(t.get("save_steps", 500)),
        save_total_limit=int(t.get("save_total_limit", 2)),
        logging_steps=int(t.get("logging_steps", 10)),
        dataloader_num_workers=int(t.get("dataloader_num_workers", 0)),
        seed=seed,
        data_seed=seed,
        batch_sampler=PairBatchSampler,
        report_to="none",
        disable_tqdm=True,
    )


def train_model(rows: list[dict], cfg: dict, out_dir: Path, *, base_path: str, seed: int,
                max_steps: int | None = None, callbacks: list | None = None) -> dict:
    """Train on `rows` (anchor, positive, negative, label=group) and save the model in `out_dir`.

    Resumes from the last checkpoint in `<out_dir>/checkpoints` when there is one. Returns
    {seconds, examples_per_second, loss_curve, steps, resumed_from}."""
    import datasets
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from transformers.trainer_utils import get_last_checkpoint

    out_dir = Path(out_dir)
    ckpt_dir = out_dir / CHECKPOINTS
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if cfg["training"].get("bf16") and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        raise IfirError("This config trains in bf16, which needs a GPU that supports it: use --config cpu (or a config with bf16 = false).")
    model = SentenceTransformer(base_path, trust_remote_code=bool(cfg["model"].get("trust_remote_code", False)))
    model.max_seq_length = int(cfg["model"].get("max_seq_length", 256))
    dataset = datasets.Dataset.from_list(rows).select_columns(["anchor", "positive", "negative", "label"])
    args = training_arguments(cfg, ckpt_dir, seed=seed, max_steps=max_steps)
    loss = PairAwareCachedMNRL(model, mini_batch_size=int(cfg["training"]["mini_batch_size"]), scale=float(cfg["training"].get("scale", 20.0)))
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=callbacks or [])
    last = get_last_checkpoint(str(ckpt_dir))
    start_step = int(last.rsplit("-", 1)[-1]) if last else 0
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - t0
    state = trainer.state
    steps_now = max(state.global_step - start_step, 0)
    examples_per_step = len(rows) / max(len(trainer.get_train_dataloader()), 1)  # rows per epoch / batches per epoch
    main = trainer.is_world_process_zero()  # under torchrun, only rank 0 writes the final folder
    if main:
        model.save(str(out_dir))
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return {
        "main_process": main,
        "seconds": round(seconds, 2),
        "examples_per_second": round(steps_now * examples_per_step / seconds, 3) if seconds > 0 else None,
        "loss_curve": [[h["step"], round(h["loss"], 5)] for h in state.log_history if "loss" in h],
        "steps": state.global_step,
        "resumed_from": last,
    }
