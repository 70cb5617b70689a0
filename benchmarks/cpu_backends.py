"""CPU inference backends with the bundled MiniLM, measured on the path `ifir-bench run --no-cache`
takes: each backend's model is loaded as the CLI loads it, then `evaluate` runs the task without the
embedding cache, and the figures are the result's own `provenance.seconds` (`load`, with any export
or int8 compression, and `encode_documents`) and `throughput.documents_per_s`. Rows: torch,
OpenVINO (float), OpenVINO int8 weights and ONNX int8 (each where installed); ratios to torch are
taken in the same run; nDCG@10 on the whole corpus. Needs `pip install 'ifir-bench[cpu]'` for the
non-torch rows.

    python benchmarks/cpu_backends.py [--data ../shared/data/scifact] [--docs N] [--batch-size 32]
        [--only torch,openvino-int8]

`--docs N` keeps the first N documents of the corpus (and skips nDCG@10).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
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
    from harness.runner import RunOptions, evaluate

    task = load_local(args.data)
    if args.docs is not None:
        task = replace(task, corpus=dict(list(task.corpus.items())[: args.docs]))
    rows = []
    with tempfile.TemporaryDirectory() as cache:  # a fresh cache: every export and compression is timed
        for backend, quantize in configs:
            label = backend + (f" {quantize}" if quantize else "")
            t0 = time.perf_counter()
            try:
                model = load_model("minilm", backend=backend, quantize=quantize, cache_dir=Path(cache), batch_size=args.batch_size)
            except IfirError as e:
                print(f"{label}: not available ({e})", flush=True)
                continue
            options = RunOptions(cache_dir=Path(cache), use_cache=False, batch_size=args.batch_size, show_progress=False)
            result, _ = evaluate(model, task, options, load_seconds=time.perf_counter() - t0)
            seconds, rate = result["provenance"]["seconds"], result["provenance"]["throughput"]["documents_per_s"]
            ndcg = result["metrics"]["nDCG@10"] if args.docs is None else None
            rows.append((label, seconds["load"], seconds["encode_documents"], rate, ndcg))
            print(f"{label}: encode_documents {seconds['encode_documents']:.1f} s, {rate:.1f} documents/s", flush=True)

    torch_rate = next((r[3] for r in rows if r[0] == "torch"), None)
    print(f"\n{task.name}: {len(task.corpus)} documents, batch {args.batch_size}, {os.cpu_count()} CPUs, "
          f"as `ifir-bench run --no-cache` (one run; a shared machine is noisy)")
    print(f"{'backend':<16} {'load s':>7} {'encode_documents s':>18} {'docs/s':>8} {'x torch':>8} {'nDCG@10':>8}")
    for label, load_s, encode_s, rate, ndcg in rows:
        ratio = f"{rate / torch_rate:.2f}x" if torch_rate else "-"
        print(f"{label:<16} {load_s:7.1f} {encode_s:18.1f} {rate:8.1f} {ratio:>8} {'-' if ndcg is None else f'{ndcg:.4f}':>8}")


if __name__ == "__main__":
    main()
