"""The matched-budget experiment (the paper's head-to-head) as one resumable job: one pool of kept
examples; for every budget, seed and mix a model trained from that pool; every model (and the base)
scored on every evaluation task through the harness; a summary with paired tests; the leaderboard.

Layout under `out`: `pool/synthesis.jsonl`, `models/<mix>-b<budget>-s<seed>/` (finished when its
`training_card.json` exists), `results/` (harness result files), `summary.json`, `summary.md`,
`site/` (the leaderboard).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import atomic_write_json, read_json

from dualview_trainer.config import Config, load_config
from dualview_trainer.pairing import MIXES, records_needed, select_records
from dualview_trainer.pipeline import CARD, JobOptions, synthesize_pool, train_from_pool
from dualview_trainer.probe import probe_models

HEADLINE = {"instruction-reranking": "p-MRR"}
"""The measure each task is judged by in the summary: p-MRR for FollowIR-style tasks, else the task's main measure."""


@dataclass
class ExperimentOptions:
    source: str
    out: Path
    budgets: tuple[int, ...] = (64, 256)
    seeds: int = 3
    mixes: tuple[str, ...] = MIXES
    eval_tasks: tuple[str, ...] = ("sample",)
    config: str = "cpu"
    pool_factor: float = 2.0
    """The pool keeps this many times the largest need, so seeds draw different examples."""
    batch_size: int = 32
    cache_dir: Path | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    command: str | None = None
    overrides: dict = field(default_factory=dict)


def config_changes(trained: dict, cfg: Config) -> list[str]:
    """The settings (section.key: trained -> now) in which a model's card differs from `cfg`; a key
    the card lacks (written before the key existed) counts as the key's default."""
    out = []
    defaults = Config().to_dict()
    for section, values in cfg.to_dict().items():
        if not isinstance(values, dict):
            continue
        for key, now in values.items():
            then = trained.get(section, {}).get(key, defaults[section][key])
            if (list(then) if isinstance(then, (list, tuple)) else then) != (list(now) if isinstance(now, (list, tuple)) else now):
                out.append(f"{section}.{key}: {then!r} -> {now!r}")
    return out


def model_dir(out: Path, mix: str, budget: int, seed: int) -> Path:
    return Path(out) / "models" / f"{mix}-b{budget}-s{seed}"


def plan(opts: ExperimentOptions, general_fraction: float = 0.0) -> list[tuple[int, int, str]]:
    """(budget, seed, mix) in run order: the largest budget first, so that the comparison the
    experiment is about is complete earliest."""
    for mix in opts.mixes:
        if mix not in MIXES:
            raise IfirError(f"Unknown mix '{mix}': use {', '.join(MIXES)}.")
    for b in opts.budgets:
        for mix in opts.mixes:
            records_needed(b, mix, general_fraction)  # odd dual-view budgets fail before anything runs
    return [(b, s, m) for b in sorted(set(opts.budgets), reverse=True) for s in range(opts.seeds) for m in opts.mixes]


class Clock:
    """Progress lines with elapsed time and a rough estimate of what is left."""

    def __init__(self, total: int, log: Callable[[str], None]):
        self.total, self.done, self.log, self.t0, self.worked = total, 0, log, time.perf_counter(), 0

    def step(self, what: str, *, computed: bool) -> None:
        self.done += 1
        self.worked += computed
        elapsed = time.perf_counter() - self.t0
        left = self.total - self.done
        eta = f", about {elapsed / self.worked * left / 60:.0f} min left" if self.worked and left else ""
        self.log(f"[{self.done}/{self.total}] {what} ({elapsed / 60:.1f} min{eta})")


def run_experiment(opts: ExperimentOptions, *, log=print, llm=None) -> dict:
    """Run (or resume) the whole experiment; returns the summary (also written to `out`)."""
    from harness.models import load_model
    from harness.runner import RunOptions, run_and_save
    from harness.tasks import expand, load_task

    out = Path(opts.out)
    cfg = load_config(opts.config, opts.overrides)
    runs = plan(opts, cfg.training.general_fraction)
    for b, s_, m in runs:  # before any work: a finished model is reused only if trained as this run asks
        card_file = model_dir(out, m, b, s_) / CARD
        changed = config_changes(read_json(card_file).get("config", {}), cfg) if card_file.is_file() else []
        if changed:
            raise IfirError(f"{card_file.parent}: trained with other settings than this run asks for ({'; '.join(changed)}); "
                            "its results would not be for these settings: use a new --out for this variant.")
    tasks = [load_task(name) for name in expand(",".join(opts.eval_tasks))]
    if not tasks:
        raise IfirError("--eval names no task.")
    need = max(records_needed(b, m, cfg.training.general_fraction) for b, _, m in runs)
    pool_opts = JobOptions(source=opts.source, out=out / "pool", seed=0, config=opts.config, overrides=opts.overrides,
                           llm_base_url=opts.llm_base_url, llm_model=opts.llm_model)
    records, stats, synthesizer, split, synthesis_file = synthesize_pool(
        cfg, pool_opts, int(need * opts.pool_factor), log=log, llm=llm)
    diverse = len({r["query"] for r in records if r.get("kept")})
    log(f"pool: {stats.kept} kept examples ({diverse} distinct queries) in {synthesis_file}")

    run_options = RunOptions(output=out / "results", batch_size=opts.batch_size, cache_dir=opts.cache_dir,
                             show_progress=False, command=opts.command)
    clock = Clock(len(tasks) * (len(runs) + 1) + len(runs), log)

    def train(budget: int, seed: int, mix: str) -> str:
        folder = model_dir(out, mix, budget, seed)
        if not (folder / CARD).is_file():
            job = JobOptions(source=opts.source, out=folder, budget=budget, mix=mix, seed=seed, config=opts.config,
                             overrides=opts.overrides, command=opts.command, synthesis_file=synthesis_file)
            card = train_from_pool(cfg, job, records, stats, synthesizer, split, synthesis_file, log=lambda m: None)
            clock.step(f"{folder.name}: trained, {card['examples_per_second']} examples/s, loss "
                       f"{card['loss_curve'][0][1]} -> {card['loss_curve'][-1][1]}" if card["loss_curve"] else f"{folder.name}: trained", computed=True)
        elif folder.name not in reused:
            clock.step(f"{folder.name}: trained (reused)", computed=False)
        reused.add(folder.name)
        return str(folder)

    # Task-major: every model is scored on the first task before any on the second, so the cheap
    # (instruction) tasks come first and an interrupted run leaves complete columns behind.
    reused: set[str] = set()
    for task in tasks:
        for label, spec in [("base", lambda: cfg.model.base)] + [(model_dir(out, m, b, s).name, (lambda b=b, s=s, m=m: train(b, s, m))) for b, s, m in runs]:
            model = load_model(spec(), batch_size=opts.batch_size)
            try:
                path, result, status = run_and_save(model, task, run_options)
            finally:
                getattr(model, "close", lambda: None)()
            clock.step(f"{label} on {task.name}: {_headline(result):.4f}" + (" (reused)" if status == "reused" else ""),
                       computed=status != "reused")

    used = {r["id"] for b, s_, m in runs for r in select_records(records, budget=b, mix=m, rng=random.Random(s_),
                                                                       general_fraction=cfg.training.general_fraction)}
    probes = probe_models(out, [("base", cfg.model.base)] + [(model_dir(out, m, b, s_).name, str(model_dir(out, m, b, s_))) for b, s_, m in runs],
                          records, used, batch_size=opts.batch_size)
    log(f"held-out pairs: {next(iter(probes.values()))['n']} kept pool records no model trained on")
    summary = summarize(out / "results", opts, cfg.model.base, probes)
    atomic_write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    log(summary_markdown(summary))
    try:
        from leaderboard.render import build_site

        report = build_site(out / "results", out / "site")
        log(f"leaderboard: {report.out / 'index.html'}")
    except ImportError:
        log("leaderboard package not installed: skipped the site")
    return summary


def _headline(result: dict) -> float:
    return result["metrics"]["p-MRR"] if result["task"]["kind"] == "instruction-reranking" else result["main_score"]


def _per_query(result: dict) -> dict[str, float]:
    if result["task"]["kind"] == "instruction-reranking":
        return result["per_query"]["p-MRR"]
    return result["per_query"][result["task"]["main_measure"]]


def seed_mean(per_query: list[dict[str, float]]) -> dict[str, float]:
    """Per-query values averaged over seeds, on the queries every seed scored (what the paired tests compare)."""
    qids = set.intersection(*(set(p) for p in per_query))
    return {q: statistics.fmean(p[q] for p in per_query) for q in qids}


def _measure(result: dict) -> str:
    return "p-MRR" if result["task"]["kind"] == "instruction-reranking" else result["task"]["main_measure"]



PROBE = "held-out swap"
"""The summary's column for probe.swap_accuracy (both views right, share of held-out pool pairs)."""


def _probe_results(probes: dict) -> dict:
    """Probe accuracies shaped like result files (main score and per-query values) for summarize."""
    as_result = {}
    for label, acc in probes.items():
        as_result[label] = {"task": {"kind": "probe", "name": PROBE, "main_measure": "both views"},
                            "main_score": acc["both_views"], "metrics": {"both views": acc["both_views"]},
                            "per_query": {"both views": {str(i): float(v) for i, v in enumerate(acc["per_pair"])}}}
    return as_result


def summarize(results_root: Path, opts: ExperimentOptions, base_spec: str, probes: dict | None = None) -> dict:
    """Per (budget, mix): mean and sd over seeds of each task's headline measure; at each budget,
    paired randomization tests across queries (per-query values averaged over seeds first) of
    dual-view against the other mixes and against the base model."""
    from harness.results import load_result
    from leaderboard.stats import compare

    by_model: dict[tuple, dict[str, dict]] = {}
    base: dict[str, dict] = {}
    for path in sorted(Path(results_root).rglob("*.json")):
        try:
            result = load_result(path)
        except IfirError:
            continue
        card = result["model"].get("extra", {}).get("training_card")
        key = (card["data"]["budget"], card["data"]["mix"], card["seed"]) if card else None
        if key is None:
            base[result["task"]["name"]] = result
        elif key[0] in opts.budgets and key[1] in opts.mixes and key[2] < opts.seeds:
            by_model.setdefault(key, {})[result["task"]["name"]] = result
    for label, result in _probe_results(probes or {}).items():
        if label == "base":
            base[PROBE] = result
        else:
            mix, rest = label.rsplit("-b", 1)
            budget, seed = (int(x) for x in rest.split("-s"))
            if budget in opts.budgets and mix in opts.mixes and seed < opts.seeds:
                by_model.setdefault((budget, mix, seed), {})[PROBE] = result
    task_names = sorted({t for r in by_model.values() for t in r} | set(base))
    rows = [{"budget": None, "mix": "base", "n_seeds": 1, "measures": {t: {"measure": _measure(base[t]), "mean": _headline(base[t]), "sd": 0.0}
                                                                        for t in task_names if t in base}}]
    tests = []
    for budget in sorted(set(opts.budgets)):
        seed_means: dict[str, dict[str, dict[str, float]]] = {}
        for mix in opts.mixes:
            keys = [k for k in by_model if k[0] == budget and k[1] == mix]
            measures = {}
            for t in task_names:
                got = [by_model[k][t] for k in sorted(keys) if t in by_model[k]]
                if not got:
                    continue
                values = [_headline(r) for r in got]
                measures[t] = {"measure": _measure(got[0]), "mean": statistics.fmean(values),
                               "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}
                seed_means.setdefault(mix, {})[t] = seed_mean([_per_query(r) for r in got])
            if measures:
                rows.append({"budget": budget, "mix": mix, "n_seeds": len(keys), "measures": measures})
        for other in [m for m in opts.mixes if m != "dual-view"] + ["base"]:
            for t in task_names:
                a = seed_means.get("dual-view", {}).get(t)
                b = seed_means.get(other, {}).get(t) if other != "base" else (_per_query(base[t]) if t in base else None)
                if a and b:
                    c = compare(a, b)
                    if c:
                        tests.append({"budget": budget, "a": "dual-view", "b": other, "task": t, **c})
    return {"source": opts.source, "budgets": list(opts.budgets), "seeds": opts.seeds, "mixes": list(opts.mixes),
            "base_model": base_spec, "tasks": task_names, "rows": rows, "tests": tests, "command": opts.command}


def summary_markdown(summary: dict) -> str:
    """The summary as Markdown tables: means (sd over seeds), then the paired tests."""
    tasks = summary["tasks"]
    head = [f"{t} {next((r['measures'][t]['measure'] for r in summary['rows'] if t in r['measures']), '')}" for t in tasks]
    lines = ["| budget | mix | seeds | " + " | ".join(head) + " |", "|---|---|---|" + "---|" * len(tasks)]
    for r in summary["rows"]:
        cells = []
        for t in tasks:
            m = r["measures"].get(t)
            scale = 100 if m and m["measure"] == "p-MRR" else 1
            n = len(m.get("values", [])) if m else 0
            cells.append("" if m is None else f"{scale * m['mean']:.4g}" + (f" ± {scale * m['sd']:.2g}" if n > 1 else "")
                         + (f" ({n} of {r['n_seeds']} seeds)" if 0 < n < r["n_seeds"] else ""))
        lines.append(f"| {r['budget'] or '-'} | {r['mix']} | {r['n_seeds']} | " + " | ".join(cells) + " |")
    lines += ["", "| budget | comparison | task | queries | mean a | mean b | difference | p |", "|---|---|---|---|---|---|---|---|"]
    for t in summary["tests"]:
        lines.append(f"| {t['budget']} | {t['a']} vs {t['b']} | {t['task']} | {t['n']} | {t['mean_a']:.4f} | {t['mean_b']:.4f} | "
                     f"{t['diff']:+.4f} | {t['p']:.3g} |")
    lines += ["", "p-MRR is shown x100; ± is the sd over seeds; p: paired randomization test over queries, "
              "per-query values averaged over seeds (leaderboard.stats)."]
    return "\n".join(lines) + "\n"
