"""Training throughput (examples/second) of dual-view training: MiniLM on CPU with the `cpu`
config, and a 305M encoder (snowflake-arctic-embed-m-v2.0) in bf16 with the `gpu` config where
CUDA is available. Rows are real SciFact training pairs with fixed complementary instructions,
so no LLM time is counted.

    python benchmarks/train_throughput.py [--steps 8] [--gpu-model Snowflake/snowflake-arctic-embed-m-v2.0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.errors import IfirError  # noqa: E402

from dualview_trainer.config import load_config  # noqa: E402
from dualview_trainer.examples import from_beir  # noqa: E402
from dualview_trainer.pairing import build_rows  # noqa: E402
from dualview_trainer.train import resolve_base_model, train_model  # noqa: E402


def rows_for(n_pairs: int, data: Path) -> list[dict]:
    exs = from_beir(data / "scifact", limit=n_pairs, seed=0)
    recs = [{**e.to_dict(), "instruction": "Find documents that support the claim.",
             "complement": f"Find documents about {e.negative.split('.')[0][:80]} instead.", "kept": True} for e in exs]
    return build_rows(recs, budget=2 * len(recs), mix="dual-view", seed=0)[0]


def measure(label: str, config: str, base: str, steps: int, data: Path, overrides: dict | None = None) -> None:
    cfg = load_config(config, {"model.base": base, **(overrides or {})})
    bs = cfg.training.per_device_train_batch_size
    rows = rows_for(max(bs * steps // 2, bs), data)
    path, meta = resolve_base_model(base)
    with tempfile.TemporaryDirectory() as out:
        r = train_model(rows, cfg, Path(out), base_path=path, seed=0, max_steps=steps)
    print(f"{label}: {meta['name']}, batch {bs} (mini-batch {cfg.training.mini_batch_size}, {cfg.training.max_seq_length or cfg.model.max_seq_length} tokens), {r['steps']} steps, "
          f"{r['seconds']:.1f} s, {r['examples_per_second']:.1f} training examples/s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--gpu-model", default="Snowflake/snowflake-arctic-embed-m-v2.0")
    ap.add_argument("--gpu-batch-size", type=int, default=None)
    args = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    measure("cpu", "cpu", "minilm", args.steps, args.data, {"training.save_steps": 10**6})
    if not torch.cuda.is_available():
        print("gpu: skipped (no CUDA device here)")
        return
    try:
        measure(f"gpu ({torch.cuda.get_device_name(0)}, bf16)", "gpu", args.gpu_model, args.steps, args.data,
                {"training.save_steps": 10**6, "training.per_device_train_batch_size": args.gpu_batch_size})
    except IfirError as e:
        print(f"gpu: skipped ({e})")


if __name__ == "__main__":
    main()
