"""The matched-budget experiment (the paper's head-to-head) as one resumable job that cannot leak.

One pool of examples is synthesized and split by content (`split.py`): held-out probe pairs (a dev
part to tune on, a test part reported once) share no query, document or named entity with any
record a model may train on. For every budget, seed and mix (and the two controls: complements
shuffled across pairs, and the old `contrast` pool) a model is trained; the base and every model
are scored through the harness on:

- `probe-dev` / `probe-test`: the held-out pairs as a paired-accuracy task (NevIR's measure: both
  views right), broken down by constraint type;
- `<source>-leakfree`: the source's test queries none of whose relevant documents is in any record
  of the training part (general quality on queries and documents no model saw), and the
  `--general` tasks (e.g. msmarco-5k); the source's whole test split beside them, labelled in-domain;
- the `--eval` tasks (e.g. `sample`, NegConstraint), scored once, at the final stage, after the
  settings were frozen (`frozen.json` records the commit).

`--stage tune` trains and scores `probe-dev` alone: settings are chosen there. The summary tests
each comparison at the level of the seeds (per seed the paired difference, then a t-test over
seeds), corrects every p-value of its table with Holm's method, and keeps the per-query
randomization test as a second line.

Layout under `out`: `pool/`, `pool-contrast/`, `split.json`, `tasks/`, `models/<mix>-b<budget>-s<seed>/`,
`results/`, `frozen.json`, `summary.json`, `summary.md`, `site/`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import atomic_write_json, atomic_write_text, read_json, write_jsonl
from harness.metrics.family import PROBE
from harness.metrics.pmrr import scale
from harness.metrics.significance import compare, holm, seed_mean, seed_test
from harness.models.protocols import identity_hash
from harness.record import ResultRecord, TrainingCard
from harness.runner import task_part

from dualview_trainer.config import Config, load_config
from dualview_trainer.pairing import ALL_MIXES, CONTRAST, SHUFFLED, records_needed
from dualview_trainer.job import CARD, JobOptions, Pool, synthesize_pool, train_from_pool
from dualview_trainer.split import DEV, TEST, check_disjoint

PROBE_DEV, PROBE_TEST = "probe-dev", "probe-test"
ROLES = ("dev", "probe", "general", "in-domain", "eval")
"""What each scored task is for: `dev` tunes, `probe` is the held-out test of instruction
following, `general` and `in-domain` measure retrieval quality, `eval` are outside sets scored once."""
NON_INFERIORITY = 0.01
"""Within this much nDCG@10 of the base counts as keeping general quality."""


@dataclass
class ExperimentOptions:
    source: str
    out: Path
    budgets: tuple[int, ...] = (256,)
    seeds: int | dict[int, int] = 5
    """Seeds 0..N-1 per (budget, mix): one N for every budget, or N per budget ({256: 5, 512: 3})."""
    mixes: tuple[str, ...] = ALL_MIXES
    general: tuple[str, ...] = ()
    """General-quality tasks beside the source's leak-free test queries (e.g. ../shared/data/msmarco-5k)."""
    eval_tasks: tuple[str, ...] = ("sample",)
    stage: str = "final"
    config: str = "cpu"
    probe_size: int = 240
    batch_size: int = 32
    cache_dir: Path | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    command: str | None = None
    overrides: dict = field(default_factory=dict)

    def seeds_at(self, budget: int) -> int:
        if isinstance(self.seeds, int):
            return self.seeds
        if budget not in self.seeds:
            raise IfirError(f"--seeds names no seed count for budget {budget}: give one for each of --budgets "
                            f"({', '.join(str(b) for b in sorted(set(self.budgets)))}), e.g. 256:5,512:3.")
        return self.seeds[budget]


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
    """(budget, seed, mix) in run order: seed-major within the largest budget first, so that every
    mix has its first seeds early (the seed-level tests need them all)."""
    if opts.stage not in ("tune", "final"):
        raise IfirError(f"Unknown --stage '{opts.stage}': use tune or final.")
    for mix in opts.mixes:
        if mix not in ALL_MIXES:
            raise IfirError(f"Unknown mix '{mix}': use {', '.join(ALL_MIXES)}.")
    for b in opts.budgets:
        if opts.seeds_at(b) < 1:
            raise IfirError(f"--seeds gives {opts.seeds_at(b)} seeds for budget {b}: give at least 1.")
        for mix in opts.mixes:
            records_needed(b, mix, general_fraction)  # odd dual-view budgets fail before anything runs
    return [(b, s, m) for b in sorted(set(opts.budgets), reverse=True) for s in range(opts.seeds_at(b)) for m in opts.mixes]


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


# ---- the evaluation tasks the experiment writes ------------------------------------------------


def write_probe_task(folder: Path, records: list[dict], name: str) -> None:
    """Held-out pairs as a task in NevIR's layout: pair `pN` is query `pN_q1` (the instruction; the
    positive is relevant) and `pN_q2` (the complement; the negative is), each ranking the pair's two
    documents; `groups.jsonl` labels each pair with its constraint type. Main score: direction
    accuracy (the margin moves toward each view's document); paired accuracy (both views rank their
    document first, NevIR's) beside it (`harness.metrics.family`)."""
    docs: dict[str, dict] = {}
    queries, qrels, candidates, groups = [], ["query-id\tcorpus-id\tscore"], [], []
    for i, r in enumerate(sorted(records, key=lambda r: r["id"])):
        key = f"p{i:04d}"
        pos, neg = f"{key}-pos", f"{key}-neg"
        docs[pos], docs[neg] = {"_id": pos, "title": "", "text": r["positive"]}, {"_id": neg, "title": "", "text": r["negative"]}
        for q, instruction, relevant in (("q1", r["instruction"], pos), ("q2", r["complement"], neg)):
            queries.append({"_id": f"{key}_{q}", "text": r["query"], "instruction": instruction})
            qrels.append(f"{key}_{q}\t{relevant}\t1")
            candidates.append({"query-id": f"{key}_{q}", "corpus-ids": [pos, neg]})
        groups.append({"id": key, "group": (r.get("constraint") or {}).get("type", "key phrase")})
    write_jsonl(folder / "corpus.jsonl", list(docs.values()))
    write_jsonl(folder / "queries.jsonl", queries)
    write_jsonl(folder / "top_ranked.jsonl", candidates)
    write_jsonl(folder / "groups.jsonl", groups)
    atomic_write_text(folder / "qrels" / "test.tsv", "\n".join(qrels) + "\n")
    atomic_write_json(folder / "ifir_task.json", {"name": name, "source": "dualview_trainer.experiment", "revision": "pool",
                                                  "family": "local", "scorer": PROBE.name, "main": PROBE.main,
                                                  "measures": ["R@1"]})


def write_leakfree_task(folder: Path, source: Path, trained_docs: set[str], name: str) -> int:
    """The source's test queries none of whose relevant documents is in `trained_docs` (the
    documents of every record a model may train on), over the whole corpus; returns the count."""
    from harness.data.local import load_local
    task = load_local(source, split="test")
    keep = sorted(q for q, judged in task.qrels.items() if not {d for d, r in judged.items() if r > 0} & trained_docs)
    if not keep:
        raise IfirError(f"{source}: every test query has a relevant document in the training records; no leak-free queries remain.")
    write_jsonl(folder / "corpus.jsonl", [{"_id": d.id, "title": d.title, "text": d.text} for d in task.corpus.values()])
    write_jsonl(folder / "queries.jsonl", [{"_id": q, "text": task.queries[q].text} for q in keep])
    atomic_write_text(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\n"
                      + "".join(f"{q}\t{d}\t{r}\n" for q in keep for d, r in sorted(task.qrels[q].items())))
    atomic_write_json(folder / "ifir_task.json", {"name": name, "source": f"{source} (test queries no training record touches)",
                                                  "revision": task.revision})
    return len(keep)


def prepare_tasks(opts: ExperimentOptions, pool: Pool, log) -> dict[str, tuple[str, str]]:
    """{task name: (spec for load_task, role)}: the probe parts and the leak-free and in-domain
    views of the source written under `out/tasks`, then the --general and --eval tasks."""
    from harness.tasks import expand

    out = Path(opts.out) / "tasks"
    tasks = {PROBE_DEV: (str(out / PROBE_DEV), "dev")}
    write_probe_task(out / PROBE_DEV, pool.probe(DEV), PROBE_DEV)
    if opts.stage == "tune":
        return tasks
    write_probe_task(out / PROBE_TEST, pool.probe(TEST), PROBE_TEST)
    tasks[PROBE_TEST] = (str(out / PROBE_TEST), "probe")
    source = Path(opts.source)
    if source.is_dir() and (source / "qrels" / "test.tsv").is_file():
        name = f"{source.name}-leakfree"
        trained_docs = {r[k] for r in pool.train_records() for k in ("positive_id", "negative_id")}
        n = write_leakfree_task(out / name, source, trained_docs, name)
        log(f"{name}: {n} test queries none of whose relevant documents is in a training record")
        tasks[name] = (str(out / name), "general")
        tasks[source.name] = (str(source.resolve()), "in-domain")
    for role, names in (("general", opts.general), ("eval", opts.eval_tasks)):
        for spec in expand(",".join(names)):
            tasks[Path(spec).name if Path(spec).is_dir() else spec] = (spec, role)
    return tasks


def freeze(out: Path, cfg: Config, command: str | None) -> dict:
    """The record of when the settings were frozen (the first final run): kept as it was."""
    from harness.results import git_commit

    path = Path(out) / "frozen.json"
    if path.is_file():
        return read_json(path)
    record = {"commit": git_commit(), "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "config": cfg.to_dict(), "command": command}
    atomic_write_json(path, record)
    return read_json(path)  # as a later run reads it (tuples of the config become lists)


# ---- the run ----------------------------------------------------------------------------------


def run_experiment(opts: ExperimentOptions, *, log=print, llm=None) -> dict:
    """Run (or resume) the whole experiment; returns the summary (also written to `out`)."""
    from harness.models import load_model
    from harness.runner import RunOptions, run_and_save, task_identity
    from harness.tasks import load_task

    out = Path(opts.out)
    cfg = load_config(opts.config, opts.overrides)
    contrast_cfg = load_config(opts.config, {**opts.overrides, "synthesis.backend": "contrast"})
    cfg_for = {m: contrast_cfg if m == CONTRAST else cfg for m in ALL_MIXES}
    runs = plan(opts, cfg.training.general_fraction)
    planned = set(runs)
    cards = [(f, TrainingCard.read(f)) for f in (model_dir(out, m, b, s_) / CARD for b, s_, m in runs) if f.is_file()]
    stored = trained_results(out / "results")  # read once: the check below and the models already scored
    results = [(path, r.training_card) for key, by_model in stored.items() if key
               for found in by_model.values() for path, r in found.values()]
    for where, card in cards + results:  # before any work: a model (or its results)
        changed = ((card.budget, card.seed, card.mix) in planned) and config_changes(card.config, cfg_for[card.mix])
        if changed:  # is reused only if trained as this run asks
            raise IfirError(f"{where}: trained with other settings than this run asks for ({'; '.join(changed)}); "
                            "its results would not be for these settings: use a new --out for this variant.")
    need = max(records_needed(b, m, cfg.training.general_fraction) for b, _, m in runs)
    pool_job = JobOptions(source=opts.source, out=out / "pool", seed=0, config=opts.config, overrides=opts.overrides,
                          llm_base_url=opts.llm_base_url, llm_model=opts.llm_model)
    pool = synthesize_pool(cfg, pool_job, need, log=log, llm=llm, probe_size=opts.probe_size)
    atomic_write_json(out / "split.json", pool.split.to_dict())
    pools = {m: pool for m in ALL_MIXES}
    if CONTRAST in opts.mixes:
        contrast = synthesize_pool(contrast_cfg, replace(pool_job, out=out / "pool-contrast"), need, log=log, probe_size=0)
        pools[CONTRAST] = replace(contrast, split=pool.split)  # the same held-out pairs: trained only on the split's training ids
        check_disjoint(pools[CONTRAST].train_records(), pool.probe(DEV) + pool.probe(TEST))  # its own names too
    frozen = freeze(out, cfg, opts.command) if opts.stage == "final" else None
    tasks = prepare_tasks(opts, pool, log)
    atomic_write_json(out / "tasks.json", {name: {"spec": spec, "role": role} for name, (spec, role) in tasks.items()})

    run_options = RunOptions(output=out / "results", batch_size=opts.batch_size, cache_dir=opts.cache_dir,
                             show_progress=False, command=opts.command)
    clock = Clock(len(tasks) * (len(runs) + 1) + len(runs), log)
    trained: set[str] = set()

    def train(budget: int, seed: int, mix: str) -> str:
        folder = model_dir(out, mix, budget, seed)
        if not (folder / CARD).is_file():
            overrides = {**opts.overrides, "synthesis.backend": "contrast"} if mix == CONTRAST else opts.overrides
            job = JobOptions(source=opts.source, out=folder, budget=budget, mix=mix, seed=seed, config=opts.config,
                             overrides=overrides, command=opts.command, synthesis_file=pools[mix].file)
            card = train_from_pool(cfg_for[mix], job, pools[mix], log=lambda m: None)
            curve = card["loss_curve"]
            clock.step(f"{folder.name}: trained, {card['examples_per_second']} examples/s"
                       + (f", loss {curve[0][1]} -> {curve[-1][1]}" if curve else ""), computed=True)
        elif folder.name not in trained:
            clock.step(f"{folder.name}: trained (reused)", computed=False)
        trained.add(folder.name)
        return str(folder)

    # Model-major, as mteb runs a benchmark: a model is trained, scored on every task, and then not
    # needed again. Its result files are the record that lasts: a model whose results answer every
    # task under these settings is neither retrained nor loaded, so a run resumes from its results
    # folder alone (on another machine, without the checkpoints). The base comes first.
    loaded = {name: load_task(spec) for name, (spec, _role) in tasks.items()}
    done = scored_models(stored, {n: identity_hash(task_identity(t, run_options)) for n, t in loaded.items()},
                         cfg_for, pool.split.summary())
    models = [("base", None, lambda: cfg.model.base)] + [
        (model_dir(out, m, b, s).name, (b, s, m), (lambda b=b, s=s, m=m: train(b, s, m))) for b, s, m in runs]
    for label, key, make in models:
        if key in done:
            clock.step(f"{label}: trained (results kept)", computed=False)
            for name in loaded:
                clock.step(f"{label} on {name} (reused)", computed=False)
            continue
        model = load_model(make(), batch_size=opts.batch_size)
        try:
            for name, task in loaded.items():
                _, result, status = run_and_save(model, task, run_options)
                clock.step(f"{label} on {name}: {result['main_score']:.4f}" + (" (reused)" if status == "reused" else ""),
                           computed=status != "reused")
        finally:
            getattr(model, "close", lambda: None)()

    summary = summarize(out, {name: role for name, (_, role) in tasks.items()}, base_spec=cfg.model.base, frozen=frozen,
                        command=opts.command, source=opts.source)
    atomic_write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    log(summary_markdown(summary))
    if opts.stage == "final":
        try:
            from leaderboard.render import build_site

            report = build_site(out / "results", out / "site")
            log(f"leaderboard: {report.out / 'index.html'}")
        except ImportError:
            log("leaderboard package not installed: skipped the site")
    return summary


# ---- the summary ------------------------------------------------------------------------------


def main_values(result: dict) -> dict[str, float]:
    return result["per_query"][result["task"]["main_measure"]]


def collect(results_root: Path, task_names: set[str]) -> tuple[dict[str, dict], dict[tuple, dict[str, dict]]]:
    """(base results by task, trained results by (budget, mix, seed) and task) from the result files.
    Where a (budget, mix, seed) has results of more than one trained model (one was retrained after
    its checkpoint was lost part-way), its numbers all come from one: the one with the most tasks."""
    base: dict[str, dict] = {}
    trained: dict[tuple, dict[str, dict]] = {}
    for key, by_model in trained_results(results_root).items():
        names = {name: r for name, r in max(by_model.values(), key=len).items() if name in task_names}
        if key is None:
            base = {name: r.to_dict() for name, (_, r) in names.items()}
        elif names:
            trained[(key[0], key[2], key[1])] = {name: r.to_dict() for name, (_, r) in names.items()}
    return base, trained


def trained_results(results_root: Path) -> dict[tuple | None, dict[str, dict[str, tuple[Path, ResultRecord]]]]:
    """The readable result files under `results_root`: (budget, seed, mix) of the trained model (None
    for an untrained one) -> the model's revision -> task name -> (path, record)."""
    from harness.results import find_results, read_record

    out: dict = {}
    for path in find_results(results_root) if Path(results_root).is_dir() else []:
        try:
            record = read_record(path)
        except IfirError:
            continue
        card = record.training_card
        key = (card.budget, card.seed, card.mix) if card else None
        out.setdefault(key, {}).setdefault(record.model.get("revision", ""), {})[record.task["name"]] = (path, record)
    return out


def scored_models(stored: dict, wanted: dict[str, str], cfg_for: dict[str, Config], split: dict) -> set[tuple[int, int, str]]:
    """(budget, seed, mix) of the trained models whose result files (`trained_results`) answer every task of `wanted`
    (name -> hash of its `task_identity`), trained with the settings this run asks for (`cfg_for`
    by mix) under this held-out split; another split is refused."""
    done = set()
    for key, by_model in stored.items():
        for found in by_model.values() if key is not None and key[2] in cfg_for else ():
            have = set()
            for path, record in found.values():
                card = record.training_card
                if config_changes(card.config, cfg_for[card.mix]) or record.identity is None:
                    continue
                if split_digest(card.held_out) != split_digest(split):
                    raise IfirError(f"{path}: trained under another held-out split than this run's ({split_digest(card.held_out)} "
                                    f"-> {split_digest(split)}); its numbers would not be for this split: use a new --out.")
                have.add(identity_hash(task_part(record.identity)))
            if set(wanted.values()) <= have:
                done.add(key)
    return done


def split_digest(held_out: dict | None) -> str:
    return (held_out or {}).get("digest", "none recorded")


def summarize(out: Path, roles: dict[str, str], *, base_spec: str, frozen: dict | None = None, command: str | None = None,
              source: str = "") -> dict:
    """Per (budget, mix): each task's main score, mean and sd over seeds; at each budget the tests
    of dual-view against every other mix and the base (seed level, Holm-corrected over the whole
    table; the per-query randomization test beside it); breakdowns by constraint type."""

    base, trained = collect(Path(out) / "results", set(roles))
    tasks = [t for t in roles if t in base or any(t in r for r in trained.values())]
    cells: dict[tuple[int, str], dict[str, dict[int, dict]]] = {}
    for (budget, mix, seed), by_task in trained.items():
        for t, result in by_task.items():
            cells.setdefault((budget, mix), {}).setdefault(t, {})[seed] = result
    rows = [{"budget": None, "mix": "base", "n_seeds": 1,
             "measures": {t: {"measure": base[t]["task"]["main_measure"], "mean": base[t]["main_score"], "sd": 0.0, "values": [base[t]["main_score"]]}
                          for t in tasks if t in base}}]
    for budget, mix in sorted(cells, key=lambda k: (k[0], ALL_MIXES.index(k[1]) if k[1] in ALL_MIXES else 99)):
        measures = {}
        for t in tasks:
            by_seed = cells[(budget, mix)].get(t, {})
            if by_seed:
                values = [by_seed[s]["main_score"] for s in sorted(by_seed)]
                measures[t] = {"measure": next(iter(by_seed.values()))["task"]["main_measure"], "mean": statistics.fmean(values),
                               "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values, "seeds": sorted(by_seed)}
        rows.append({"budget": budget, "mix": mix, "n_seeds": max(len(v) for v in cells[(budget, mix)].values()), "measures": measures})

    tests = []
    for budget in sorted({b for b, _ in cells}):
        mine = cells.get((budget, "dual-view"), {})
        for other in [m for m in ALL_MIXES if m != "dual-view" and (budget, m) in cells] + ["base"]:
            for t in tasks:
                role = roles[t]
                a = mine.get(t, {})
                if role == "dev" or len(a) < 2:
                    continue
                if other == "base":
                    if t not in base:
                        continue
                    b_value, b_per_query = base[t]["main_score"], main_values(base[t])
                    seeds = sorted(a)
                    kinds = [("superiority", 0.0, "two-sided")]
                    if role in ("general", "in-domain"):
                        kinds.append(("non-inferiority", -NON_INFERIORITY, "greater"))
                    for kind, margin, alternative in kinds:
                        st = seed_test([a[s]["main_score"] for s in seeds], b_value, margin=margin, alternative=alternative)
                        pq = compare(seed_mean([main_values(a[s]) for s in seeds]), b_per_query)
                        tests.append({"budget": budget, "a": "dual-view", "b": "base", "task": t, "role": role, "kind": kind,
                                      "measure": base[t]["task"]["main_measure"],
                                      "margin": margin, **st, "per_query": pq})
                    continue
                b = cells[(budget, other)].get(t, {})
                seeds = sorted(set(a) & set(b))
                if len(seeds) < 2:
                    continue
                st = seed_test([a[s]["main_score"] for s in seeds], [b[s]["main_score"] for s in seeds])
                pq = compare(seed_mean([main_values(a[s]) for s in seeds]), seed_mean([main_values(b[s]) for s in seeds]))
                tests.append({"budget": budget, "a": "dual-view", "b": other, "task": t, "role": role, "kind": "superiority",
                              "measure": a[seeds[0]]["task"]["main_measure"],
                              "margin": 0.0, **st, "per_query": pq})
    testable = [i for i, t in enumerate(tests) if not math.isnan(t["p"])]
    for i, p in zip(testable, holm([tests[i]["p"] for i in testable])):
        tests[i]["p_holm"] = p

    breakdowns = {}
    for t in tasks:
        per_mix: dict[str, dict[str, float]] = {}
        if t in base and "breakdown" in base[t]:
            per_mix["base"] = {g: v["mean"] for g, v in base[t]["breakdown"].items()}
        for (budget, mix), by_task in sorted(cells.items()):
            got = [r["breakdown"] for r in by_task.get(t, {}).values() if "breakdown" in r]
            if got:
                per_mix[f"{mix} b{budget}"] = {g: statistics.fmean(b[g]["mean"] for b in got if g in b) for g in sorted({g for b in got for g in b})}
        if per_mix:
            counts = next((r["breakdown"] for r in [base.get(t, {})] if r and "breakdown" in r), {})
            breakdowns[t] = {"by_mix": per_mix, "n": {g: v["n"] for g, v in counts.items()}}
    return {"source": source, "base_model": base_spec, "tasks": tasks, "roles": {t: roles[t] for t in tasks}, "rows": rows,
            "tests": tests, "correction": "holm", "alpha": 0.05, "breakdowns": breakdowns, "frozen": frozen,
            "claims": claims(tests), "command": command}


CLAIMS = (
    ("a", "dual-view beats standard on the document-held-out probe", "standard", "probe", "superiority"),
    ("b", "dual-view beats standard on the eval sets", "standard", "eval", "superiority"),
    ("c", f"dual-view is within {NON_INFERIORITY} of the base on general retrieval", "base", "general", "non-inferiority"),
    ("d", "dual-view beats the shuffled-complement control on the probe", SHUFFLED, "probe", "superiority"),
    ("e", "dual-view beats the old contrast pool on the probe", CONTRAST, "probe", "superiority"),
)


def claims(tests: list[dict]) -> list[dict]:
    """The experiment's claims (a)-(e) at each budget, each held or not, with the tests behind it:
    a claim holds when every one of its tests has Holm-corrected p < 0.05 in its direction."""
    out = []
    for budget in sorted({t["budget"] for t in tests}):
        for key, text, other, role, kind in CLAIMS:
            rows = [t for t in tests if t["budget"] == budget and t["b"] == other and t["role"] == role and t["kind"] == kind]
            if not rows:
                continue
            held = all(t.get("p_holm", 1.0) < 0.05 and (t["diff"] > t["margin"]) for t in rows)
            out.append({"budget": budget, "claim": key, "text": text, "held": held,
                        "tests": [{"task": t["task"], "measure": t["measure"], "diff": t["diff"], "p": t["p"], "p_holm": t.get("p_holm")}
                                  for t in rows]})
    return out


def _num(x: float | None, digits: str = ".3g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, digits)


def summary_markdown(summary: dict) -> str:
    """The summary as Markdown: means (sd over seeds), the tests, the claims, the breakdowns."""
    tasks = summary["tasks"]
    measure_of = {t: next((r["measures"][t]["measure"] for r in summary["rows"] if t in r["measures"]), "")
                  for t in [*tasks, *summary["breakdowns"]]}
    head = [f"{t} ({summary['roles'][t]}) {measure_of[t]}" for t in tasks]
    lines = ["| budget | mix | seeds | " + " | ".join(head) + " |", "|---|---|---|" + "---|" * len(tasks)]
    for r in summary["rows"]:
        cells = []
        for t in tasks:
            m = r["measures"].get(t)
            if m is None:
                cells.append("")
                continue
            k, n = scale(m["measure"]), len(m["values"])
            cells.append(f"{k * m['mean']:.4g}" + (f" ± {k * m['sd']:.2g}" if n > 1 else "") + (f" ({n} of {r['n_seeds']} seeds)" if 0 < n < r["n_seeds"] else ""))
        lines.append(f"| {r['budget'] or '-'} | {r['mix']} | {r['n_seeds']} | " + " | ".join(cells) + " |")
    lines += ["", "| budget | comparison | task | test | seeds | difference (95% CI over seeds) | p (seeds) | p Holm | per-query p (queries) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for t in summary["tests"]:
        k = scale(t["measure"])
        pq = t.get("per_query") or {}
        test = "superiority" if t["kind"] == "superiority" else f"loss < {abs(t['margin'])}"
        lines.append(f"| {t['budget']} | {t['a']} vs {t['b']} | {t['task']} | {test} | {t['n_seeds']} | {k * t['diff']:+.4f} "
                     f"({_num(k * t['low'], '+.4f')}, {_num(k * t['high'], '+.4f')}) | {_num(t['p'])} | {_num(t.get('p_holm'))} | "
                     f"{_num(pq.get('p'))} ({pq.get('n', 0)}) |")
    lines += ["", "Claims (held: every test behind it has Holm-corrected p < 0.05 in its direction):", ""]
    for c in summary["claims"]:
        detail = "; ".join(f"{t['task']} {scale(t['measure']) * t['diff']:+.4f}, p Holm {_num(t['p_holm'])}" for t in c["tests"])  # as in the tables
        lines.append(f"- budget {c['budget']}, ({c['claim']}) {c['text']}: **{'held' if c['held'] else 'did not hold'}** ({detail})")
    for t, b in summary["breakdowns"].items():
        groups = sorted({g for v in b["by_mix"].values() for g in v})
        lines += ["", f"{t} by constraint type (mean over seeds; pairs or topics per type: "
                  + ", ".join(f"{g} {b['n'].get(g, '?')}" for g in groups) + ")", "",
                  "| model | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        k = scale(measure_of[t])
        digits = ".3f" if k == 1 else "+.2f"  # p-MRR x100 with a sign, as the first table shows it
        for label, values in b["by_mix"].items():
            lines.append(f"| {label} | " + " | ".join(_num(None if values.get(g) is None else k * values[g], digits) for g in groups) + " |")
    frozen = summary.get("frozen") or {}
    lines += ["", "p-MRR is shown x100; ± is the sd over seeds. p (seeds): t-test over seeds of the per-seed difference "
              "(one-sample against the base); Holm's correction over every test of this table. Per-query p: paired "
              "randomization test over queries of the seed-averaged values (harness.metrics.significance), uncorrected."
              + (f" Settings frozen at commit {frozen.get('commit')} ({frozen.get('created_at')})." if frozen else
                 " Stage tune: only probe-dev was scored.")]
    return "\n".join(lines) + "\n"
