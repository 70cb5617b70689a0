"""Peak memory of a dense run over N synthetic documents (default 2,000,000 x 384 dims) through a
fake encoder plugin, printed against the size of the float32 matrix of their vectors.

    python benchmarks/memory_2m.py [--n 2000000] [--dim 384] [--queries 100] [--cache-dir DIR]

The encoder (`memory_2m:HashEncoder`, loaded as a `module:attr` plugin) turns each text's hash into a
vector at once, so the figure is the harness's own: corpus and queries in memory, the embedding
store (written, then read through a memory map), chunked exact search, the run. Peak RSS counts
the store's mapped pages that were read. A first run encodes and a second reads the store.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.models.protocols import ModelMeta

MIB = 1024 * 1024


class HashEncoder:
    """Deterministic vectors from a 64-bit hash of each text (no model, no tokenizer)."""

    def __init__(self, dim: int = 384):
        self.meta = ModelMeta(name="hash-encoder", revision="1", kind="dense", extra={"similarity": "cosine", "dim": dim})
        self._mix = np.random.default_rng(0).integers(1, 2**63, size=dim, dtype=np.uint64) | np.uint64(1)

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        h = np.frombuffer(b"".join(hashlib.blake2b(t.encode(), digest_size=8).digest() for t in texts), dtype=np.uint64)
        bits = (h[:, None] * self._mix[None, :]) >> np.uint64(40)  # wraps: a cheap, well-mixed hash per dimension
        return bits.astype(np.float32) / np.float32(2**23) - np.float32(1.0)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    from harness.models import load_model
    from harness.runner import RunOptions, evaluate
    from harness.types import Document, Query, Task

    model = load_model("memory_2m:HashEncoder", dim=args.dim)
    base = peak_rss()
    words = "retrieval instruction corpus query ranking evaluation benchmark".split()
    corpus = {f"d{i:08d}": Document(f"d{i:08d}", f"document {i} about {words[i % 7]} and {words[i * 7 % 5]}") for i in range(args.n)}
    # Each query is one document's text, so that document (its own vector) must come first: nDCG@10 1.0.
    queries = {f"q{i}": Query(f"q{i}", corpus[f"d{i * 7919 % args.n:08d}"].text) for i in range(args.queries)}
    qrels = {q: {f"d{i * 7919 % args.n:08d}": 1} for i, q in enumerate(queries)}
    task = Task("synthetic", "retrieval", corpus, queries, qrels, ["nDCG@10"], "synthetic", "-")
    data = peak_rss()
    matrix = args.n * args.dim * 4
    print(f"{args.n:,} documents x {args.dim} dims: float32 matrix {matrix / MIB:,.0f} MiB")
    print(f"RSS after imports {base / MIB:,.0f} MiB; with the corpus and queries in memory {data / MIB:,.0f} MiB")
    with tempfile.TemporaryDirectory(dir=args.cache_dir) as cache:
        options = RunOptions(cache_dir=Path(cache), top_k=100, batch_size=args.batch_size, show_progress=False)
        for label in ("first run (encodes, writes the store)", "second run (reads the store)"):
            t0 = time.perf_counter()
            result, _ = evaluate(model, task, options)
            peak = peak_rss()
            print(f"{label}: {time.perf_counter() - t0:.1f} s, nDCG@10 {result['metrics']['nDCG@10']:.4f}; "
                  f"peak RSS so far {peak / MIB:,.0f} MiB = {peak / matrix:.2f}x the matrix "
                  f"({(peak - data) / matrix:.2f}x above the corpus in memory)")  # fmt: skip
    print("target: peak RSS <= 1.5x the float32 matrix")


if __name__ == "__main__":
    main()
