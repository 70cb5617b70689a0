"""Training throughput (examples/second) of dual-view training: MiniLM on CPU with the `cpu`
config, and a 305M encoder (snowflake-arctic-embed-m-v2.0) in bf16 with the `gpu` config where
CUDA is available. Rows are real SciFact training pairs with fixed complementary instructions,
so no LLM time is counted.

    python benchmarks/train_throughput.py [--steps 8] [--gpu-model Snowflake/snowflake-arctic-embed-m-v2.0]

On a GPU machine with no hub and no ../shared/data (a lent machine), write the rows here and
build the encoder there from a config (random weights: a throughput and memory figure needs no
trained weights):

    python benchmarks/train_throughput.py --save-rows .gpu/rows.jsonl --skip-cpu --skip-gpu
    python benchmarks/train_throughput.py --rows .gpu/rows.jsonl --skip-cpu --gpu-init-from-config --tokenizer .gpu/tok
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import tomllib
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


def measure(label: str, config: str, base: str, steps: int, rows: list[dict], overrides: dict | None = None) -> None:
    import torch

    cfg = load_config(config, {"model.base": base, **(overrides or {})})
    bs = cfg.training.per_device_train_batch_size
    path, meta = resolve_base_model(base)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        r = train_model(rows, cfg, Path(out), base_path=path, seed=0, max_steps=steps)
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if torch.cuda.is_available() and cfg.training.bf16 else ""
    print(f"{label}: {meta['name']}, batch {bs} (mini-batch {cfg.training.mini_batch_size}, {cfg.training.max_seq_length or cfg.model.max_seq_length} tokens), {r['steps']} steps, "
          f"{r['seconds']:.1f} s, {r['examples_per_second']:.1f} training examples/s{peak}", flush=True)


ARCTIC_M_V2_SHAPE = dict(vocab_size=250048, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=8194, type_vocab_size=1)
"""snowflake-arctic-embed-m-v2.0's encoder shape (gte-multilingual-base: XLM-R vocabulary, 12 x 768).
Its own modelling code (rotary positions) needs the hub; an XLM-R encoder of the same shape has
the same matrix work per token and about the same parameter count."""


def model_from_config(folder: Path, tokenizer: Path) -> Path:
    """A sentence-transformers folder (CLS pooling, normalised, as arctic-embed) holding an encoder
    of ARCTIC_M_V2_SHAPE with random weights and the tokenizer found in `tokenizer`."""
    import shutil

    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    raw = folder / "raw"
    XLMRobertaModel(XLMRobertaConfig(**ARCTIC_M_V2_SHAPE)).save_pretrained(raw)
    AutoTokenizer.from_pretrained(str(tokenizer)).save_pretrained(raw)
    word = models.Transformer(str(raw), max_seq_length=512)
    st = SentenceTransformer(modules=[word, models.Pooling(768, pooling_mode="cls"), models.Normalize()])
    n = sum(p.numel() for p in st.parameters())
    print(f"encoder from config: XLM-R shape {ARCTIC_M_V2_SHAPE['num_hidden_layers']} x {ARCTIC_M_V2_SHAPE['hidden_size']}, "
          f"vocabulary {ARCTIC_M_V2_SHAPE['vocab_size']:,}, {n / 1e6:.0f}M parameters, random weights", flush=True)
    st.save(str(folder / "model"))
    shutil.rmtree(raw)
    return folder / "model"


def _override(item: str) -> tuple[str, object]:
    """`section.key=value`, the value read as TOML (the configs' own syntax), else as a string."""
    key, _, value = item.partition("=")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--gpu-model", default="Snowflake/snowflake-arctic-embed-m-v2.0")
    ap.add_argument("--gpu-batch-size", type=int, default=None)
    ap.add_argument("--gpu-init-from-config", action="store_true",
                    help="Build the 305M encoder from its shape with random weights (no hub needed).")
    ap.add_argument("--tokenizer", type=Path, default=None, help="Tokenizer folder for --gpu-init-from-config (default: the bundled MiniLM's).")
    ap.add_argument("--rows", type=Path, help="Read the training rows from this JSONL instead of mining SciFact.")
    ap.add_argument("--save-rows", type=Path, help="Write the rows (enough for the GPU batch) to this JSONL.")
    ap.add_argument("--gpu-set", action="append", default=[], metavar="KEY=VALUE",
                    help="Override a gpu-config key for the GPU run (e.g. training.mini_batch_size=256); repeatable; "
                         "each given set is measured after the config as it is.")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-gpu", action="store_true")
    args = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    gpu_batch = args.gpu_batch_size or load_config("gpu").training.per_device_train_batch_size
    gpu_run = torch.cuda.is_available() and not args.skip_gpu
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:  # enough pairs for the GPU batch only where a GPU run or a saved file needs them
        batch = gpu_batch if gpu_run or args.save_rows else 16
        rows = rows_for(max(batch * args.steps // 2, 16), args.data)
    if args.save_rows:
        args.save_rows.parent.mkdir(parents=True, exist_ok=True)
        args.save_rows.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"{len(rows)} rows written to {args.save_rows}")
    if not args.skip_cpu:
        measure("cpu", "cpu", "minilm", args.steps, rows, {"training.save_steps": 10**6})
    if args.skip_gpu:
        return
    if not torch.cuda.is_available():
        print("gpu: skipped (no CUDA device here)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = args.gpu_model
        if args.gpu_init_from_config:
            from harness.models.dense import bundled_minilm_path

            base = str(model_from_config(Path(tmp), args.tokenizer or Path(bundled_minilm_path())))
        variants = [{}] + [dict(_override(kv) for kv in item.split(",")) for item in args.gpu_set]
        for extra in variants:
            try:
                changed = "".join(f", {k.split('.')[-1]}={v}" for k, v in extra.items())
                measure(f"gpu ({torch.cuda.get_device_name(0)}, bf16{changed})", "gpu", base, args.steps, rows,
                        {"training.save_steps": 10**6, "training.per_device_train_batch_size": gpu_batch, **extra})
            except IfirError as e:
                print(f"gpu: skipped ({e})")


if __name__ == "__main__":
    main()
