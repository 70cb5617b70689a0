"""Collected results -> one self-contained static site (index.html, static/, results/, leaderboard.json).

Deterministic: everything is sorted, JSON is dumped with sorted keys, the only date shown is the
newest `provenance.created_at` of the inputs, and significance uses a fixed seed.
"""

from __future__ import annotations

import gzip
import json
import shutil
import statistics
from dataclasses import dataclass
from importlib.resources import files
from itertools import combinations
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.errors import IfirError
from harness.families import GENERAL
from harness.metrics import significance as stats
from harness.metrics.pmrr import scale
from harness.metrics.pmrr import shown as fmt
from harness.metrics.pmrr import shown_sd as fmt_sd
from leaderboard import plots
from leaderboard.collect import (SITE_MARKER, INSTANCE_KEYS, PMRR, Collection, Column, Entry, Row, _anonymous, collect,
                                 family_name, is_number, mix_rank)

STATIC_FILES = ("style.css", "app.js")


@dataclass
class BuildReport:
    out: Path
    n_results: int
    n_models: int
    warnings: list[str]
    n_runs: int = 0


def fmt_p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else "<0.0001"


def site_href(rel: str) -> str:
    return "results/" + quote(rel)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _sd(values: list[float]) -> float | None:
    """Sample standard deviation over seeds (None for fewer than two)."""
    return statistics.stdev(values) if len(values) > 1 else None


@dataclass(frozen=True)
class Average:
    """A mean of the main measure over a set of tasks (a benchmark family, or all p-MRR / general tasks)."""

    key: str
    label: str
    title: str
    tasks: tuple[str, ...]
    measure: str


class Page:
    """Plain data for the template, computed once from a Collection."""

    def __init__(self, col: Collection, *, baseline: str | None = None):
        self.col = col
        self.rows = col.rows
        self.tasks = col.tasks
        self.pmrr_tasks = [t for t, info in self.tasks.items() if info.pmrr]
        self.general_tasks = [t for t, info in self.tasks.items() if info.family in GENERAL and not info.pmrr]
        self.main_columns = [info.main for info in self.tasks.values()]
        self.averages = self._averages()
        self._pq = {}
        self.tests = self._tests()
        self.default_a, self.baseline = self._defaults(baseline)

    # ---- numbers -------------------------------------------------------------------------
    def values(self, row: Row, column: Column) -> list[tuple[float, Entry]]:
        """The column's value in each seed (instance) of the row that has it, with its file."""
        return [(v, e) for e in row.entries(column.task) if (v := column.value(e.data)) is not None]

    def value(self, row: Row, column: Column) -> float | None:
        return _mean([v for v, _ in self.values(row, column)])

    def per_query(self, row: Row, column: Column) -> dict[str, float]:
        """Per-query values, averaged over the row's seeds on the queries every seed scored."""
        key = (id(row), column.key)
        if key not in self._pq:
            per_seed = [column.per_query(e.data["per_query"]) for e in row.entries(column.task)]
            per_seed = [p for p in per_seed if p]
            if not per_seed:
                self._pq[key] = {}
            else:
                shared = sorted(set.intersection(*(set(p) for p in per_seed)))
                self._pq[key] = {q: sum(p[q] for p in per_seed) / len(per_seed) for q in shared}
        return self._pq[key]

    def _averages(self) -> list[Average]:
        """Family averages, then the mean p-MRR and the mean general measure over families: each over
        tasks sharing one main measure (a family with two measures gets one average per measure),
        listed only when it averages two or more tasks and differs from one already listed."""
        candidates = []
        for family in dict.fromkeys(info.family for info in self.tasks.values()):
            name = family_name(family)
            by_measure = {}
            for t, info in self.tasks.items():
                if info.family == family:
                    by_measure.setdefault(info.main.measure, []).append(t)
            for measure, tasks in by_measure.items():
                label = f"{name} avg" + (f" {measure}" if len(by_measure) > 1 else "")
                candidates.append(Average(f"family:{family}:{measure}", label, f"{name}: mean {measure} over {', '.join(tasks)}",
                                          tuple(tasks), measure))
        candidates.append(Average("all:pmrr", "mean p-MRR", f"mean p-MRR (x100) over {', '.join(self.pmrr_tasks)}", tuple(self.pmrr_tasks), PMRR))
        general: dict[str, list[str]] = {}
        for t in self.general_tasks:
            general.setdefault(self.tasks[t].main.measure, []).append(t)
        for measure, tasks in general.items():
            candidates.append(Average(f"all:general:{measure}", f"mean {measure}", f"mean {measure} over general tasks: {', '.join(tasks)}",
                                      tuple(tasks), measure))
        seen, out = set(), []
        for a in candidates:
            if len(a.tasks) >= 2 and a.tasks not in seen:
                seen.add(a.tasks)
                out.append(a)
        return out

    def _measure_of(self, tasks) -> str:
        return "/".join(sorted({self.tasks[t].main.measure for t in tasks}))

    def average(self, row: Row, tasks) -> dict:
        """Mean main measure over `tasks` for one row (seed means), with the tasks it has."""
        used = [(t, v) for t in tasks if (v := self.value(row, self.tasks[t].main)) is not None]
        return {"value": _mean([v for _, v in used]), "n": len(used), "of": len(tasks), "tasks": [t for t, _ in used]}

    def seed_average(self, row: Row, tasks) -> tuple[float | None, float | None]:
        """(mean, sd) over the row's seeds of each seed's mean main measure over `tasks` it has."""
        per_seed = []
        for instance in row.instances:
            vals = [v for t in tasks if t in instance.entries and (v := self.tasks[t].main.value(instance.entries[t].data)) is not None]
            if vals:
                per_seed.append(sum(vals) / len(vals))
        return _mean(per_seed), _sd(per_seed)

    def _tests(self) -> dict[str, list]:
        """Every row pair, task and per-query measure: [n, mean diff (a - b), p, mean a, mean b]."""
        tests = {}
        for info in self.tasks.values():
            for column in info.per_query_columns:
                values = [self.per_query(r, column) for r in self.rows]
                results = stats.compare_all(values, list(combinations(range(len(self.rows)), 2)))
                for (i, j), result in sorted(results.items()):
                    if result:
                        tests[f"{column.key}|{i}|{j}"] = [
                            result["n"], round(result["diff"], 8), round(result["p"], 6),
                            round(result["mean_a"], 8), round(result["mean_b"], 8),
                        ]
        return tests

    def test(self, column: Column, a: int, b: int) -> dict | None:
        """The precomputed test of row a against row b (difference a - b)."""
        if a == b:
            return None
        i, j, sign = (a, b, 1) if a < b else (b, a, -1)
        t = self.tests.get(f"{column.key}|{i}|{j}")
        if t is None:
            return None
        return {"n": t[0], "diff": sign * t[1], "p": t[2], "sig": t[2] < stats.ALPHA}

    def base_row(self, row: Row) -> int | None:
        """The untrained base model's row of a trained row, when its results are among the inputs:
        same name (and revision when it is there), and of its setups the one closest to the trained
        model's (same template and prompts)."""
        if row.base is None:
            return None
        name, revision = row.base
        untrained = [i for i, r in enumerate(self.rows) if r.card is None and r.name == name]
        exact = [i for i in untrained if self.rows[i].first.revision == revision]
        candidates = exact or (untrained if len({self.rows[i].first.revision for i in untrained}) == 1 else [])
        if not candidates:
            return None
        own = {k: _anonymous(v, row.first) for k, v in row.first.setup.items() if not INSTANCE_KEYS & set(k.split("."))}

        def shared(i: int) -> int:
            base = self.rows[i].first
            theirs = {k: _anonymous(v, base) for k, v in base.setup.items() if not INSTANCE_KEYS & set(k.split("."))}
            return sum(1 for k, v in own.items() if k in theirs and theirs[k] == v)

        return max(candidates, key=lambda i: (shared(i), -i))

    def _defaults(self, wanted: str | None) -> tuple[int, int]:
        """(model A, baseline B) preselected in the significance and per-query views: `--baseline`
        if given; else the base model of a trained model (the last mix at the largest budget)
        against that model; else the first untrained model."""
        rows = self.rows
        if wanted:
            hits = [i for i, r in enumerate(rows) if wanted in (r.name, r.label, r.short, r.first.label, r.name.split("/")[-1])]
            if not hits:
                raise IfirError(f"--baseline '{wanted}' names no model; models: {', '.join(r.label for r in rows)}.")
            b = hits[0]
        else:
            trained = [i for i, r in enumerate(rows) if r.card is not None and self.base_row(r) is not None]
            if trained:
                a = max(trained, key=lambda i: (is_number(rows[i].budget), rows[i].budget if is_number(rows[i].budget) else 0,
                                                mix_rank(rows[i].mix), -i))
                return a, self.base_row(rows[a])
            untrained = [i for i, r in enumerate(rows) if r.card is None]
            b = untrained[0] if untrained else 0
        others = [i for i in range(len(rows)) if i != b]
        return (others[0] if others else b), b

    # ---- sections ------------------------------------------------------------------------
    def cell(self, row: Row, column: Column, best: float | None) -> dict:
        found = self.values(row, column)
        if not found:
            return {"v": None, "text": "", "sd": "", "href": None, "title": "", "best": False, "files": ""}
        value = _mean([v for v, _ in found])
        sd = _sd([v for v, _ in found])
        measure = column.measure
        lines = [f"{column.task} {column.label}"]
        if len(found) > 1:
            lines[0] += f": mean of {len(found)} seeds, sd {fmt_sd(sd, measure)[1:]}"
            lines += [f"seed {e.card.seed if e.card else '?'}: {fmt(v, measure)} from {e.rel}" for v, e in found]
        else:
            lines += [f"from {found[0][1].rel}", f"command: {found[0][1].command}", f"created: {found[0][1].created_at}"]
        if column.source == "paraphrases":
            lines += _paraphrase_lines(found[0][1].data.get("paraphrases"), measure) if len(found) == 1 else []
        return {"v": value, "text": fmt(value, measure), "sd": fmt_sd(sd, measure), "href": site_href(found[0][1].rel),
                "title": "\n".join(lines), "best": best is not None and value >= best - 1e-12,
                "files": " ".join(site_href(e.rel) for _, e in found)}

    def table(self) -> dict:
        columns = self.col.columns
        best = {}
        for c in columns:
            values = [v for r in self.rows if (v := self.value(r, c)) is not None]
            best[c.key] = (min(values) if c.part == "sd" else max(values)) if len(values) > 1 else None
        avg_values = {a.key: [self.average(r, a.tasks) for r in self.rows] for a in self.averages}
        best_avg = {}
        for a in self.averages:  # ranked only over the same tasks: a partial mean (*) is never best, nor compared
            values = [x["value"] for x in avg_values[a.key] if x["value"] is not None and x["n"] == x["of"]]
            best_avg[a.key] = max(values) if len(values) > 1 else None
        latency = [self.latency(r) for r in self.rows]
        best_latency = max((x["v"] for x in latency if x["v"] is not None), default=None)
        # Header: family -> task -> measure. Family averages close their family; overall means come last.
        families, body_columns = [], []
        for family in dict.fromkeys(info.family for info in self.tasks.values()):
            infos = [info for info in self.tasks.values() if info.family == family]
            avg = [a for a in self.averages if a.key.startswith(f"family:{family}:")]
            span = sum(len(i.columns) for i in infos) + len(avg)
            families.append({"name": family_name(family), "family": family, "span": span,
                             "tasks": [{"task": i.name, "record": i.record, "span": len(i.columns), "pmrr": i.pmrr} for i in infos],
                             "averages": avg})
            for info in infos:
                body_columns += [("column", c) for c in info.columns]
            body_columns += [("average", a) for a in avg]
        overall = [a for a in self.averages if not a.key.startswith("family:")]
        body_columns += [("average", a) for a in overall]
        rows = []
        for i, row in enumerate(self.rows):
            cells = []
            for kind, item in body_columns:
                if kind == "column":
                    cells.append(self.cell(row, item, best[item.key]))
                    continue
                x = avg_values[item.key][i]
                v = x["value"]
                cells.append({"avg": True, "v": v, "text": fmt(v, item.measure if item.measure == PMRR else "") + ("*" if v is not None and x["n"] < x["of"] else ""),
                              "title": f"mean of {x['n']} of {x['of']} tasks: {', '.join(x['tasks'])}" if v is not None else "no results",
                              "best": v is not None and x["n"] == x["of"] and best_avg[item.key] is not None and v >= best_avg[item.key] - 1e-12})
            lat = latency[i]
            lat["best"] = lat["v"] is not None and best_latency is not None and lat["v"] >= best_latency - 1e-12 and len([x for x in latency if x["v"]]) > 1
            rows.append({"i": i, "row": row, "cells": cells, "latency": lat})
        headers = []  # the last header row, with each column's index in a body row (the model column is 0)
        for n, (kind, item) in enumerate(body_columns, start=1):
            if kind == "column":
                measure, part = (("paraphr.", item.part) if item.source == "paraphrases" else (item.measure, item.part))
                headers.append({"index": n, "label": item.label, "measure": measure, "part": part, "key": item.key,
                                "title": _column_title(item), "kind": "column"})
            else:
                headers.append({"index": n, "label": item.label, "measure": item.label, "part": "", "key": item.key,
                                "title": item.title, "kind": "average"})
        return {"families": families, "overall": overall, "headers": headers, "rows": rows, "latency_index": len(body_columns) + 1}

    def latency(self, row: Row) -> dict:
        """Queries per second over the row's result files (total queries / total query time) and a
        cost note: the device and the inference backend the numbers were measured with."""
        rates = [(e, q) for e in row.all_entries if (q := e.queries_per_s) is not None]
        devices = sorted({str(e.data["provenance"].get("device") or "") for e in row.all_entries} - {""})
        backends = sorted({_backend(e) for e in row.all_entries})
        note = " · ".join(devices + backends)
        if not rates:
            return {"v": None, "text": "", "note": note, "title": "queries/s not recorded in these result files (older format)"}
        weights = [(e.data["task"].get("n_queries") if is_number(e.data["task"].get("n_queries")) else 1) for e, _ in rates]
        total = sum(weights) / sum(w / q for w, (_, q) in zip(weights, rates))
        title = "\n".join(f"{e.task}: {q:,.1f} queries/s ({e.rel})" for e, q in rates)
        return {"v": total, "text": f"{total:,.0f}" if total >= 100 else f"{total:,.1f}", "note": note,
                "title": f"queries/s over {len(rates)} result file(s), encoding the queries and searching\n{title}\n{note}"}

    def significance_matrices(self) -> list[dict]:
        """Per task, its main measure: row (model) minus column, p-value, p < ALPHA marked."""
        if len(self.rows) < 2:
            return []
        out = []
        for column in self.main_columns:
            if sum(1 for r in self.rows if self.per_query(r, column)) < 2:
                continue
            matrix = []
            for a in range(len(self.rows)):
                cells = []
                for b in range(len(self.rows)):
                    t = self.test(column, a, b)
                    if t:
                        t["text"] = fmt(t["diff"], column.measure, diff=True)
                        t["p_text"] = fmt_p(t["p"])
                    cells.append(t)
                matrix.append(cells)
            out.append({"column": column, "rows": matrix})
        return out

    def comparisons(self) -> list[dict]:
        """Trained rows grouped by (base model, revision, data source, budget), one row per mix (seeds
        averaged) with the untrained base model on top; the difference of each mix against the reference
        mix ("standard" when present), and every pair of rows' differences with paired p-values."""
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(self.rows):
            if r.card is None:
                continue
            key = (*(r.base or ("?", "?")), str(r.data.get("source", "")), json.dumps(r.budget, default=str))
            groups.setdefault(key, []).append(i)
        out = []
        for (base_name, base_rev, source, _), members in sorted(groups.items(), key=lambda kv: (kv[0][:3], _budget_sort(self.rows[kv[1][0]].budget))):
            members.sort(key=lambda i: (mix_rank(self.rows[i].mix), self.rows[i].variant))
            ref = members[0]
            base_i = self.base_row(self.rows[ref])
            listed = ([base_i] if base_i is not None else []) + members
            rows = []
            for i in listed:
                r = self.rows[i]
                cells = []
                for c in self.main_columns:
                    cell = self.cell(r, c, None)
                    if i != ref:
                        t = self.test(c, i, ref)
                        if t:
                            cell.update(delta=fmt(t["diff"], c.measure, diff=True), p=fmt_p(t["p"]), sig=t["sig"], n=t["n"])
                    cells.append(cell)
                cards = [inst.card.to_dict() if inst.card else {} for inst in r.instances]
                rows.append({"i": i, "row": r, "cells": cells, "base": i == base_i, "ref": i == ref,
                             "mix": r.mix or ("(untrained base)" if i == base_i else ""),
                             "n_examples": _agg([(c.get("data") or {}).get("n_examples") for c in cards]) if r.card else "",
                             "seeds": ", ".join(str(s) for s in r.seeds) if r.card else "",
                             "seconds": _agg([c.get("seconds") for c in cards], ".1f") if r.card else "",
                             "eps": _agg([c.get("examples_per_second") for c in cards], ".2f") if r.card else "",
                             "llm": _agg([_llm_label(c.get("llm")) for c in cards]) if r.card else "",
                             "command": "\n".join(sorted({str(c.get("command", "")) for c in cards})) if r.card else "",
                             "loss": _agg([_final_loss(c) for c in cards], ".4f") if r.card else ""})
            pairs = []
            for x, y in combinations(listed, 2):
                a, b = (y, x)  # later row minus earlier row: each mix against the base and the mixes above it
                diffs = []
                for c in self.main_columns:
                    t = self.test(c, a, b)
                    diffs.append({"text": fmt(t["diff"], c.measure, diff=True), "p": fmt_p(t["p"]), "sig": t["sig"], "n": t["n"]} if t else None)
                pairs.append({"a": self._pair_label(a, base_i), "b": self._pair_label(b, base_i), "diffs": diffs})
            out.append({"base": base_name, "revision": base_rev, "source": source, "budget": self.rows[ref].budget, "rows": rows,
                        "pairs": pairs, "ref_mix": self.rows[ref].mix, "columns": self.main_columns})
        return out

    def breakdowns(self) -> list[dict]:
        """For each task whose results carry a `breakdown` (the main score by a label of its queries,
        e.g. the constraint type each tests), one table: a row per leaderboard row (seeds averaged),
        a column per label, and how many queries or pairs each label has."""
        out = []
        for task, info in self.tasks.items():
            rows, groups, counts = [], set(), {}
            for i, r in enumerate(self.rows):
                parts = [e.data.get("breakdown") for e in r.entries(task)]
                parts = [b for b in parts if isinstance(b, dict)]
                if not parts:
                    continue
                means = {}
                for g in sorted({g for b in parts for g in b}):
                    values = [b[g]["mean"] for b in parts if isinstance(b.get(g), dict) and is_number(b[g].get("mean"))]
                    if values:
                        means[g] = _mean(values)
                        counts.setdefault(g, parts[0].get(g, {}).get("n"))
                groups |= set(means)
                rows.append({"i": i, "row": r, "means": means})
            if rows:
                order = sorted(groups)
                measure = info.main.measure
                out.append({"task": task, "measure": measure, "groups": [{"name": g, "n": counts.get(g)} for g in order],
                            "rows": [{**r, "cells": [fmt(r["means"].get(g), measure) for g in order]} for r in rows]})
        return out

    def _pair_label(self, i: int, base_i: int | None) -> str:
        r = self.rows[i]
        text = f"{i + 1}. " + ("base" if i == base_i else r.mix)
        return text + (f" [{r.variant}]" if r.variant and i != base_i else "")

    def plots(self) -> list[dict]:
        out = []
        points, missing = [], []
        for i, r in enumerate(self.rows):
            y, x = self.average(r, self.pmrr_tasks), self.average(r, self.general_tasks)
            if y["value"] is None or x["value"] is None:
                if self.pmrr_tasks and self.general_tasks:
                    missing.append(f"{i + 1}. {r.label}: no " + ("p-MRR task" if y["value"] is None else "general task") + " result")
                continue
            points.append({"n": i + 1, "label": r.short, "x": x["value"], "y": scale(PMRR) * y["value"], "href": site_href(r.all_entries[0].rel),
                           "trained": r.card is not None,
                           "tip": f"{i + 1}. {r.label}\nmean p-MRR {fmt(y['value'], PMRR)} over {', '.join(y['tasks'])}\n"
                                  f"mean {self._measure_of(self.general_tasks)} {x['value']:.4f} over {', '.join(x['tasks'])}"})
        if points:
            gm = self._measure_of(self.general_tasks)
            out.append({"id": "plot-pmrr-vs-general", "title": f"Instruction following vs general retrieval: mean p-MRR against mean {gm}, one point per row of the table",
                        "svg": Markup(plots.scatter(points, title="mean p-MRR vs general " + gm, x_label=f"mean {gm} (general tasks)",
                                                    y_label="mean p-MRR x100", fmt_x=lambda v: f"{v:.2f}", fmt_y=lambda v: f"{v:+g}")),
                        "legend": [{"mark": str(p["n"]), "color": plots.PALETTE[(p["n"] - 1) % len(plots.PALETTE)], "label": self.rows[p["n"] - 1].label,
                                    "trained": p["trained"]} for p in points],
                        "missing": missing})
        out.extend(self._budget_plots())
        return out

    def _budget_plots(self) -> list[dict]:
        by_base: dict[tuple, dict[str, list]] = {}
        for i, r in enumerate(self.rows):
            if r.card is None or not is_number(r.budget):
                continue
            by_base.setdefault((*(r.base or ("?", "?")), str(r.data.get("source", "")), r.variant), {}).setdefault(r.mix, []).append((r.budget, i))
        out = []
        for (base, _rev, source, variant), mixes in sorted(by_base.items()):
            for tasks, measure, label in ((self.pmrr_tasks, PMRR, "mean p-MRR x100"),
                                          (self.general_tasks, "", "mean " + self._measure_of(self.general_tasks))):
                series = []
                for mix in sorted(mixes, key=mix_rank):
                    pts = []
                    for budget, i in sorted(mixes[mix]):
                        v, sd = self.seed_average(self.rows[i], tasks)
                        if v is not None:
                            k = scale(measure)
                            seeds = len(self.rows[i].instances)
                            tip = f"{self.rows[i].label}\nmix {mix}, budget {budget}: {fmt(v, measure or 'x')}" + (f" {fmt_sd(sd, measure or 'x')} over {seeds} seeds" if sd is not None else "")
                            pts.append((budget, k * v, tip, k * sd if sd is not None else None))
                    if pts:
                        series.append({"name": mix, "points": pts})
                if not series:
                    continue
                title = f"Budget curve, base {base}" + (f", data {source}" if source else "") + (f" [{variant}]" if variant else "") + \
                        f": {label} against training data budget, one line per mix (bars: ±1 sd over seeds)"
                legend = [{"mark": "", "color": plots.PALETTE[n % len(plots.PALETTE)], "label": s["name"], "trained": False} for n, s in enumerate(series)]
                out.append({"id": f"plot-budget-{'pmrr' if measure else 'general'}-{len(out)}", "title": title, "legend": legend, "missing": [],
                            "svg": Markup(plots.lines(series, title=title, x_label="data budget (training examples)", y_label=label,
                                                      fmt_x=lambda v: f"{v:g}", fmt_y=lambda v: f"{v:g}"))})
        return out

    def per_query_data(self) -> dict:
        """task::measure -> row index -> {qid: value}, for the per-query and significance views."""
        out = {}
        for info in self.tasks.values():
            for column in info.per_query_columns:
                per_row = {str(i): {q: round(v, 6) for q, v in sorted(self.per_query(r, column).items())} for i, r in enumerate(self.rows)}
                out[column.key] = {k: v for k, v in per_row.items() if v}
        return out

    def client_data(self) -> dict:
        measures = {}
        for task, info in self.tasks.items():
            measures[task] = [{"key": c.key, "label": c.label, "pmrr": c.measure == PMRR} for c in info.per_query_columns]
        return {
            "models": [{"label": r.label, "short": r.short} for r in self.rows],
            "tasks": list(self.tasks),
            "measures": measures,
            "tests": self.tests,
            "perQuery": self.per_query_data(),
            "baseline": self.baseline,
            "modelA": self.default_a,
            "task": next((t for t, info in self.tasks.items() if self.test(info.main, self.default_a, self.baseline)), next(iter(self.tasks), "")),
            "alpha": stats.ALPHA,
            "nPermutations": stats.N_PERMUTATIONS,
            "seed": stats.SEED,
        }

    def provenance(self, published_runs: set[str]) -> list[dict]:
        rows = []
        for e in self.col.entries:
            p = e.data["provenance"]
            run_rel = _run_rel(e) + ".gz"
            rows.append({"rel": e.rel, "href": site_href(e.rel), "run_href": site_href(run_rel) if run_rel in published_runs else None,
                         "model": f"{e.model_key[0]}@{e.model_key[1]}", "task": e.task, "command": e.command,
                         "created_at": e.created_at, "git_commit": str(p.get("git_commit") or ""), "device": str(p.get("device") or ""),
                         "backend": _backend(e), "version": p.get("ifir_bench_version") or "", "trained": e.card is not None})
        return rows


def _paraphrase_lines(record, measure: str) -> list[str]:
    if not isinstance(record, dict):
        return []
    lines = [f"{record.get('n', '?')} paraphrases from {record.get('source', '?')}, {record.get('measure', measure)}:"]
    for item in record.get("values") or []:
        if isinstance(item, dict) and is_number(item.get("value")):
            text = item.get("paraphrase") or item.get("instruction") or ""
            lines.append(f"{fmt(item['value'], measure)}  {text}")
    return lines


def _column_title(c: Column) -> str:
    if c.source == "paraphrases":
        return f"{c.task}: {c.part} of {c.measure} over instruction paraphrases (prompt robustness)"
    if c.part:
        return f"{c.task}: {c.measure}, {c.part} run scored against the {c.part} qrels"
    return f"{c.task}: {c.measure}"


KIND_BACKENDS = {"dense": "torch", "reranker": "torch", "sparse": "lucene"}  # older files, which record no backend


def _backend(entry: Entry) -> str:
    """The inference backend of a result (`provenance.backend`, one per stage of a pipeline; else
    `model.extra.backend`; else what its model kind runs on), with quantization and precision."""
    model, recorded = entry.data["model"], entry.data["provenance"].get("backend")
    extra = model.get("extra") if isinstance(model.get("extra"), dict) else {}
    if isinstance(recorded, list) and recorded:
        text = " >> ".join(str(b) for b in recorded)
    else:
        text = str(recorded or extra.get("backend") or KIND_BACKENDS.get(str(model.get("kind")), model.get("kind") or "torch"))
    return " ".join([text] + [str(extra[k]) for k in ("quantize", "precision") if extra.get(k)])


def _run_rel(entry) -> str:
    return str(Path(entry.rel).with_name(entry.run_file.name).as_posix())


def _budget_sort(budget) -> tuple:
    return (0, float(budget), "") if is_number(budget) else (1, 0.0, str(budget))


def _agg(values: list, spec: str = "") -> str:
    """Seeds' values of one training-card field: the value when all agree, else mean ± sd (numbers) or all of them."""
    values = [v for v in values if v not in (None, "")]
    if not values:
        return ""
    shown = [format(v, spec) if spec and is_number(v) else str(v) for v in values]
    if len(set(shown)) == 1:
        return shown[0]
    if spec and all(is_number(v) for v in values):
        return f"{format(statistics.mean(values), spec)} ± {format(statistics.stdev(values), spec)}"
    return " / ".join(shown)


def _llm_label(llm) -> str:
    """'backend: model' from a training card's `llm` record (empty when absent)."""
    if not isinstance(llm, dict):
        return ""
    return ": ".join(str(llm[k]) for k in ("backend", "model") if llm.get(k))


def _final_loss(card: dict):
    curve = card.get("loss_curve")
    if isinstance(curve, list) and curve and isinstance(curve[-1], (list, tuple)) and len(curve[-1]) == 2 and is_number(curve[-1][1]):
        return float(curve[-1][1])
    return None


def dumps(data) -> str:
    """Stable JSON that is safe inside an HTML <script> element: <, > and & are written as \\u003c,
    \\u003e and \\u0026, so neither `</script>` nor `<!--` can end or change the element (JSON.parse
    reads them back unchanged); ensure_ascii also escapes U+2028/2029."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def environment() -> Environment:
    env = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["fmt_p"] = fmt_p
    return env


def render(col: Collection, *, baseline: str | None = None, published_runs: set[str] = frozenset()) -> str:
    page = Page(col, baseline=baseline)
    dates = sorted(e.created_at for e in col.entries if e.created_at)
    return environment().get_template("index.html.j2").render(
        page=page, table=page.table(), matrices=page.significance_matrices(), comparisons=page.comparisons(), breakdowns=page.breakdowns(),
        plots=page.plots(), provenance=page.provenance(published_runs), warnings=col.warnings, as_of=dates[-1] if dates else "",
        client_json=Markup(dumps(page.client_data())), stats=stats, tasks=col.tasks, with_runs=bool(published_runs),
    )


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / SITE_MARKER).is_file():
        raise IfirError(f"{out} exists and is not a leaderboard site (no {SITE_MARKER}); give an empty or new --out directory.")
    for name in ("results", "static"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    out.mkdir(parents=True, exist_ok=True)


def build_site(results: Path, out: Path, *, baseline: str | None = None, with_runs: bool = False) -> BuildReport:
    """Read every result file under `results`, write the site to `out`; bad files become warnings.

    The copies under `site/results/` are the records as published (secrets and absolute paths
    scrubbed). TREC runs are left out unless `with_runs`, then copied gzipped (`.run.trec.gz`, no
    timestamp inside, so the bytes stay the same): a SciFact run alone is about 20 MB as text.
    """
    results, out = Path(results), Path(out)
    col = collect(results)
    if not col.rows:
        raise IfirError(f"{results}: no readable result files" + (f" ({len(col.warnings)} skipped)." if col.warnings else "."))
    published_runs = {_run_rel(e) + ".gz" for e in col.entries if with_runs and e.run_file.is_file()}
    html = render(col, baseline=baseline, published_runs=published_runs)
    _prepare_out(out)
    for entry in col.entries:
        target = out / "results" / entry.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(entry.data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        if _run_rel(entry) + ".gz" in published_runs:
            (out / "results" / (_run_rel(entry) + ".gz")).write_bytes(gzip.compress(entry.run_file.read_bytes(), compresslevel=6, mtime=0))
    (out / "static").mkdir()
    for name in STATIC_FILES:
        (out / "static" / name).write_bytes(files("leaderboard").joinpath("static", name).read_bytes())
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve files as they are
    summary = {"results": [e.rel for e in col.entries], "models": [r.label for r in col.rows], "tasks": list(col.tasks),
               "runs": sorted(published_runs), "warnings": col.warnings}
    (out / SITE_MARKER).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return BuildReport(out, len(col.entries), len(col.rows), col.warnings, len(published_runs))
