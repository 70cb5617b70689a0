"""One (mix, budget) of two matched-budget experiment folders side by side, e.g. an ablation (`--loss
mnrl`, `--learning-rate`, `--general-fraction` into its own `--out`) against the main run: per task,
mean over seeds of the headline measure in each, and a paired randomization test over queries of the
per-query values averaged over seeds (leaderboard.stats, as the experiment's own summary); the
held-out swap probe on the pool pairs that both folders held out.

    python benchmarks/compare_experiments.py A B [--mix dual-view] [--budget 256]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dualview_trainer.experiment import PROBE, _per_query, seed_mean  # noqa: E402
from harness.errors import IfirError  # noqa: E402
from harness.results import load_result  # noqa: E402
from leaderboard.stats import compare  # noqa: E402


def collect(folder: Path, mix: str, budget: int) -> dict[str, list[dict[str, float]]]:
    """task -> per-query values of each seed of (mix, budget) in one experiment folder."""
    out: dict[str, list] = {}
    for path in sorted((folder / "results").rglob("*.json")):
        try:
            result = load_result(path)
        except IfirError:
            continue
        card = result["model"].get("extra", {}).get("training_card")
        if card and card["data"]["mix"] == mix and card["data"]["budget"] == budget:
            out.setdefault(result["task"]["name"], []).append(_per_query(result))
    for path in sorted((folder / "probe").glob(f"{mix}-b{budget}-s*.json")):
        probe = json.loads(path.read_text(encoding="utf-8"))
        acc = probe["accuracy"]
        out.setdefault(PROBE, []).append({str(i): float(v) for i, v in zip(probe["ids"], acc["per_pair"])})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--mix", default="dual-view")
    parser.add_argument("--budget", type=int, default=256)
    args = parser.parse_args()
    a, b = collect(args.a, args.mix, args.budget), collect(args.b, args.mix, args.budget)
    print(f"{args.mix} at budget {args.budget}: A = {args.a}, B = {args.b}")
    print(f"{'task':16s} {'seeds':>5s} {'A':>8s} {'B':>8s} {'queries':>7s} {'A - B':>8s} {'p':>7s}")
    for task in sorted(set(a) & set(b)):
        c = compare(seed_mean(a[task]), seed_mean(b[task]))
        if c is None:
            continue
        print(f"{task:16s} {len(a[task]):>2d}/{len(b[task]):<2d} {c['mean_a']:8.4f} {c['mean_b']:8.4f} {c['n']:7d} {c['diff']:+8.4f} {c['p']:7.4f}")
    print("A, B: the headline measure (p-MRR not x100) averaged over seeds, on the queries (probe: pairs) both scored.")


if __name__ == "__main__":
    main()
