"""FollowIR-7B's p-MRR on Robust04, News21 and Core17, printed beside the figures its model card publishes.

    python benchmarks/followir7b_reproduction.py [--device cuda] [--dtype bfloat16] [--batch-size 16]

This needs a GPU (about 15 GB at bf16) and the hub, or a local hub cache that holds the model and the
data. The card's figures are mteb's, run on the `jhu-clsp/*-instructions` revisions that the
`*-v1` tasks pin. mteb ran the model in float16 and cut long prompts from the right. This harness cuts
only the document and runs in bfloat16 by default, so a document longer than 2048 tokens can score a
little differently. The script prints how many documents were cut.
"""

from __future__ import annotations

import argparse
import time

from harness.models import load_model
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task

PUBLISHED = {"robust04-v1": 13.717553757582253, "news21-v1": 6.2615989256510005, "core17-v1": 16.47851858684521}
"""p-MRR x100 from the model-index of https://huggingface.co/jhu-clsp/FollowIR-7B (mteb's results)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    t0 = time.perf_counter()
    model = load_model(f"llm-reranker:jhu-clsp/FollowIR-7B,dtype={args.dtype}", batch_size=args.batch_size, device=args.device)
    print(f"FollowIR-7B @ {model.meta.revision}, {args.dtype} on {args.device}: loaded in {time.perf_counter() - t0:.0f} s")
    print(f"{'task':<12} {'p-MRR x100':>10} {'published':>10} {'diff':>7} {'pairs/s':>8} {'cut docs':>8}")
    for name, published in PUBLISHED.items():
        before = dict(model.timings)
        result, _ = evaluate(model, load_task(name), RunOptions(batch_size=args.batch_size, device=args.device))
        ours = 100 * result["metrics"]["p-MRR"]
        pairs = model.timings["pairs_scored"] - before["pairs_scored"]
        rate = pairs / max(model.timings["rerank_s"] - before["rerank_s"], 1e-9)
        cut = model.timings["documents_truncated"] - before["documents_truncated"]
        print(f"{name:<12} {ours:>10.2f} {published:>10.2f} {ours - published:>+7.2f} {rate:>8.1f} {cut:>8}")


if __name__ == "__main__":
    main()
