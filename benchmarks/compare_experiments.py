"""One (mix, budget) of two matched-budget experiment folders side by side, e.g. an ablation (`--loss
mnrl`, `--learning-rate`, `--general-fraction` into its own `--out`) against the main run: per task,
the mean over seeds of the main score in each, a t-test over the seeds both folders trained (paired
by seed: a seed draws the same records in both), and the per-query randomization test of the values
averaged over seeds (as the experiment's own summary). The probe is comparable only where both
folders hold out the same pairs (the same pool and probe size: `split.json`'s digest says so).

    python benchmarks/compare_experiments.py A B [--mix dual-view] [--budget 256]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dualview_trainer.experiment import collect, main_values  # noqa: E402
from harness.metrics.significance import compare, seed_mean, seed_test  # noqa: E402


def by_seed(folder: Path, mix: str, budget: int) -> dict[str, dict[int, dict]]:
    """task -> seed -> result of (mix, budget) in one experiment folder."""
    roles = json.loads((folder / "tasks.json").read_text(encoding="utf-8"))
    _, trained = collect(folder / "results", set(roles))
    out: dict[str, dict[int, dict]] = {}
    for (b, m, seed), results in trained.items():
        if (m, b) == (mix, budget):
            for task, result in results.items():
                out.setdefault(task, {})[seed] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--mix", default="dual-view")
    parser.add_argument("--budget", type=int, default=256)
    args = parser.parse_args()
    a, b = by_seed(args.a, args.mix, args.budget), by_seed(args.b, args.mix, args.budget)
    same_probe = all((f / "split.json").is_file() for f in (args.a, args.b)) and \
        json.loads((args.a / "split.json").read_text())["test"] == json.loads((args.b / "split.json").read_text())["test"]
    print(f"{args.mix} at budget {args.budget}: A = {args.a}, B = {args.b}")
    print(f"{'task':18s} {'seeds':>5s} {'A':>8s} {'B':>8s} {'A - B':>8s} {'p seeds':>8s} {'queries':>7s} {'p queries':>9s}")
    for task in sorted(set(a) & set(b)):
        if task.startswith("probe") and not same_probe:
            continue
        seeds = sorted(set(a[task]) & set(b[task]))
        if not seeds:
            continue
        st = seed_test([a[task][s]["main_score"] for s in seeds], [b[task][s]["main_score"] for s in seeds])
        c = compare(seed_mean([main_values(a[task][s]) for s in seeds]), seed_mean([main_values(b[task][s]) for s in seeds]))
        mean_a = sum(a[task][s]["main_score"] for s in seeds) / len(seeds)
        print(f"{task:18s} {len(seeds):5d} {mean_a:8.4f} {mean_a - st['diff']:8.4f} {st['diff']:+8.4f} {st['p']:8.4f} "
              f"{c['n'] if c else 0:7d} {c['p'] if c else float('nan'):9.4f}")
    print("A, B: the main score (p-MRR not x100) averaged over the seeds both trained; p seeds: paired t-test over seeds.")


if __name__ == "__main__":
    main()
