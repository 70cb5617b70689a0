"""How much `--batch-size` moves scores: the same model on the same task encoded with two batch
sizes (no cache), compared score by score, rank by rank and measure by measure.

    python benchmarks/batch_noise.py [--model minilm] [--task sample] [--batch-sizes 32 8]
"""

from __future__ import annotations

import argparse

from harness.models import load_model
from harness.ranking import ranked
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--task", default="sample")
    parser.add_argument("--batch-sizes", type=int, nargs=2, default=[32, 8])
    args = parser.parse_args()
    model, task = load_model(args.model), load_task(args.task)
    (a, run_a), (b, run_b) = (
        evaluate(model, task, RunOptions(batch_size=n, use_cache=False, show_progress=False)) for n in args.batch_sizes
    )
    diffs = [abs(run_a[q][d] - run_b[q].get(d, float("nan"))) for q in run_a for d in run_a[q] if d in run_b[q]]
    swapped = sum(ranked(run_a[q]) != ranked(run_b[q]) for q in run_a)
    moved = sum(x != y for q in run_a for x, y in zip(ranked(run_a[q]), ranked(run_b[q])))
    print(f"{args.model} on {task.name}, batch size {args.batch_sizes[0]} vs {args.batch_sizes[1]}:")
    print(f"  scores: {len(diffs)} compared, max |difference| {max(diffs):.2e}, {sum(d > 0 for d in diffs)} differ at all")
    print(f"  ranks: {swapped} of {len(run_a)} queries rank differently ({moved} rank positions hold another document)")
    flat = lambda m: {f"{k}/{j}": w for k, v in m.items() for j, w in (v.items() if isinstance(v, dict) else [("", v)])}
    ma, mb = flat(a["metrics"]), flat(b["metrics"])
    print("  measures: " + ", ".join(f"{k} {ma[k]:.6f} vs {mb[k]:.6f}" for k in ma))


if __name__ == "__main__":
    main()
