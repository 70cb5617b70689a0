"""Corpus parts on this machine: N parts encoded by N processes at once against one process encoding
everything, each a whole `ifir-bench encode` process (model load included) on a fresh cache, in turn;
then, from the measured throughput, the projected wall time of MS MARCO's 8.8M passages on 1, 8 and
64 workers.

    python benchmarks/parts_scaling.py [--data ../shared/data/msmarco-5k] [--docs N] [--parts 2]
        [--batch-size 32] [--device cpu|cuda] [--target 8841823] [--workers 1,8,64]

Rows: `1 process` is `ifir-bench encode --part 1/1`, `N processes` is `--part k/N` for k = 1..N
started together; wall is from the first start to the last exit; documents/s is documents / wall;
encode documents/s is what the processes report for the encoding itself (summed over parts).

Projection: a worker is one process on a machine like this one (its CPUs, or its one GPU with
`--device cuda`), encoding its part at the one-process encode rate measured here, plus the measured
start-up (model load, task load); wall(W) = start-up + passages / (W x rate), the slowest part having
ceil(batches / W) batches. It assumes workers do not share CPUs, disks or GPUs and that MS MARCO
passages cost what the passages measured here cost (msmarco-5k is a sample of them). Disk: each part
holds 4 x dimension bytes per vector plus 16 bytes per row key.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"documents part (\d+)/(\d+), rows (\d+)-(\d+) of (\d+): (\d+) encoded now, \d+ already there \(([\d.]+) s")
MSMARCO_PASSAGES = 8_841_823


def encode_parts(task_dir: Path, cache: Path, parts: int, args) -> tuple[float, list[tuple[int, float]]]:
    """(wall seconds, [(documents encoded, encode seconds)] per part) of `parts` processes at once."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "400"}
    command = [sys.executable, "-m", "harness.cli", "encode", "--model", "minilm", "--tasks", str(task_dir),
               "--batch-size", str(args.batch_size), "--cache-dir", str(cache), *(["--device", args.device] if args.device else [])]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*command, "--part", f"{k}/{parts}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(1, parts + 1)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    done = []
    for p, out in zip(procs, outs):
        m = LINE.search(out)
        if p.returncode or not m:
            sys.exit(f"an encode process failed (exit {p.returncode}):\n{out[-2000:]}")
        done.append((int(m[6]), float(m[7])))
    return wall, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "msmarco-5k")
    parser.add_argument("--docs", type=int, default=None, help="Keep the first N documents of the corpus.")
    parser.add_argument("--parts", type=int, default=2, help="N: parts encoded by N processes at once (default 2, this machine's cores).")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None, help="Passed to ifir-bench encode (cuda: the projection is per GPU).")
    parser.add_argument("--target", type=int, default=MSMARCO_PASSAGES, help="Passages of the projected corpus (MS MARCO v1: 8,841,823).")
    parser.add_argument("--workers", default="1,8,64")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from harness.data.export import export_task
    from harness.data.local import load_local

    task = load_local(args.data)
    if args.docs is not None:
        task = replace(task, corpus=dict(list(task.corpus.items())[: args.docs]))
    n_docs = len(task.corpus)
    print(f"{args.data.name}: {n_docs} documents, bundled MiniLM, batch {args.batch_size}, device {args.device or 'cpu'}, "
          f"{os.cpu_count()} CPUs", flush=True)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        task_dir = export_task(task, Path(tmp) / "task")
        for parts in (1, args.parts):
            wall, done = encode_parts(task_dir, Path(tmp) / f"cache-{parts}", parts, args)
            encoded = sum(d for d, _ in done)
            if encoded != n_docs:
                sys.exit(f"{parts} part(s) encoded {encoded} documents, not {n_docs}.")
            rate = sum(d / s for d, s in done if s > 0)
            rows[parts] = (wall, n_docs / wall, rate, wall - max(s for _, s in done))
            label = "1 process" if parts == 1 else f"{parts} processes"
            print(f"{label:>12}: wall {wall:7.1f} s, {n_docs / wall:6.1f} documents/s; encode {rate:6.1f} documents/s "
                  f"(per part: {', '.join(f'{d / s:.1f}' for d, s in done if s > 0)})", flush=True)
    one, many = rows[1], rows[args.parts]
    print(f"{args.parts} processes vs 1: wall {many[0] / one[0]:.2f}x, documents/s {many[1] / one[1]:.2f}x")

    rate, startup = one[2], one[3]
    dim_bytes = 384 * 4 + 16
    batches = math.ceil(args.target / args.batch_size)
    print(f"projection, {args.target:,} passages, one worker = one process on a machine like this "
          f"({rate:.1f} passages/s encoding, {startup:.1f} s start-up):")
    for w in (int(x) for x in args.workers.split(",")):
        slowest = math.ceil(batches / w) * args.batch_size
        seconds = startup + slowest / rate
        print(f"  {w:>3} worker(s): {seconds / 3600:8.1f} h wall ({seconds / 86400:.2f} days); "
              f"{slowest * dim_bytes / 2**30:.2f} GiB per part, {args.target * dim_bytes / 2**30:.1f} GiB in all")


if __name__ == "__main__":
    main()
