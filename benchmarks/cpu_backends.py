"""CPU inference backends on the SciFact corpus with the bundled MiniLM, one run: documents/s of
torch, OpenVINO (float), OpenVINO int8 weights and ONNX int8 (each where installed), ratios to
torch taken in the same run, and each one's nDCG@10 (torch: 0.6451). Exports happen before the
timing (once; they are cached). Needs `pip install 'ifir-bench[cpu]'` for the non-torch rows.

    python benchmarks/cpu_backends.py [--data ../shared/data/scifact] [--docs N] [--batch-size 32]
        [--only torch,openvino-int8]

`--docs N` times the first N documents only and skips nDCG@10.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

CONFIGS = [("torch", None), ("openvino", None), ("openvino", "int8"), ("onnx", "int8")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact")
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", default=None, help="Comma-separated rows: torch, openvino, openvino-int8, onnx-int8.")
    args = parser.parse_args()
    configs = [c for c in CONFIGS if not args.only or "-".join(filter(None, c)) in args.only.split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from harness.data.local import load_local
    from harness.errors import IfirError
    from harness.models import load_model
    from harness.runner import RunOptions, as_searcher, evaluate

    task = load_local(args.data)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for backend, quantize in configs:
            label = backend + (f" {quantize}" if quantize else "")
            t0 = time.perf_counter()
            try:
                model = load_model("minilm", backend=backend, quantize=quantize, cache_dir=Path(cache))
            except IfirError as e:
                print(f"{label}: not available ({e})", flush=True)
                continue
            load_s = time.perf_counter() - t0
            texts = [model.meta.format_doc(d) for d in task.corpus.values()][: args.docs]
            model.encode(texts[:64], kind="document", batch_size=args.batch_size)  # warm-up, as each row gets
            searcher = as_searcher(model, cache_dir=Path(cache), batch_size=args.batch_size, show_progress=False)
            t0 = time.perf_counter()
            searcher.embed(texts, "document")
            docs_per_s = len(texts) / (time.perf_counter() - t0)
            ndcg = None
            if args.docs is None:  # documents now cached: this encodes the queries and scores
                result, _ = evaluate(model, task, RunOptions(cache_dir=Path(cache), batch_size=args.batch_size, show_progress=False))
                ndcg = result["metrics"]["nDCG@10"]
            rows.append((label, load_s, docs_per_s, ndcg))
            print(f"{label}: {docs_per_s:.1f} documents/s, nDCG@10 {ndcg if ndcg is None else round(ndcg, 4)}", flush=True)

    torch_rate = next((r[2] for r in rows if r[0] == "torch"), None)
    print(f"\nSciFact corpus, {len(texts)} documents, batch {args.batch_size}, {os.cpu_count()} CPUs (one run; a shared machine is noisy)")
    print(f"{'backend':<16} {'load+export s':>13} {'docs/s':>8} {'x torch':>8} {'nDCG@10':>8}")
    for label, load_s, rate, ndcg in rows:
        ratio = f"{rate / torch_rate:.2f}x" if torch_rate else "-"
        print(f"{label:<16} {load_s:13.1f} {rate:8.1f} {ratio:>8} {'-' if ndcg is None else f'{ndcg:.4f}':>8}")


if __name__ == "__main__":
    main()
