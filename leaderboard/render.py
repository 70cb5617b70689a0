"""Collected results -> one self-contained static site (index.html, static/, results/, leaderboard.json).

Deterministic: everything is sorted, JSON is dumped with sorted keys, the only date shown is the
newest `provenance.created_at` of the inputs, and significance uses a fixed seed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib.resources import files
from itertools import combinations
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.errors import IfirError
from leaderboard import plots, stats
from leaderboard.collect import FOLLOWIR, PMRR, Collection, Column, Model, collect, columns_for, mix_rank, significance_columns

SITE_MARKER = "leaderboard.json"
STATIC_FILES = ("style.css", "app.js")


@dataclass
class BuildReport:
    out: Path
    n_results: int
    n_models: int
    warnings: list[str]


def fmt(value: float | None, measure: str, *, diff: bool = False) -> str:
    """p-MRR is stored in [-1, 1] and shown x100 with a sign; other measures as stored, 4 decimals."""
    if value is None:
        return ""
    if measure == PMRR:
        return f"{100 * value:+.2f}"
    return f"{value:+.4f}" if diff else f"{value:.4f}"


def fmt_p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else "<0.0001"


def site_href(rel: str) -> str:
    return "results/" + quote(rel)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class Page:
    """Plain data for the template, computed once from a Collection."""

    def __init__(self, col: Collection, *, baseline: str | None = None):
        self.col = col
        self.models = col.models
        self.index = {m.key: i for i, m in enumerate(self.models)}
        self.followir = [t for t, r in col.tasks.items() if r["kind"] == FOLLOWIR]
        self.general = [t for t, r in col.tasks.items() if r["kind"] != FOLLOWIR]
        self.main_columns = [columns_for(col.tasks[t])[0] for t in col.tasks]
        self.tests = self._tests()
        self.baseline = self._baseline(baseline)

    short = staticmethod(lambda m: _short(m))

    # ---- numbers -------------------------------------------------------------------------
    def value(self, model: Model, column: Column) -> float | None:
        entry = model.entries.get(column.task)
        return column.value(entry.data["metrics"]) if entry else None

    def averages(self, model: Model) -> dict:
        """Mean p-MRR over FollowIR tasks and mean main measure over general tasks, with the files used."""
        out = {}
        for name, tasks, measure in (("pmrr", self.followir, PMRR), ("general", self.general, None)):
            used = [(t, self.value(model, columns_for(self.col.tasks[t])[0])) for t in tasks]
            used = [(t, v) for t, v in used if v is not None]
            out[name] = {
                "value": _mean([v for _, v in used]),
                "n": len(used),
                "of": len(tasks),
                "tasks": [t for t, _ in used],
                "measure": measure or "/".join(sorted({self.col.tasks[t].get("main_measure", "") for t in tasks})),
            }
        return out

    def _tests(self) -> dict[str, list]:
        """Every model pair, task and measure: [n, mean diff (a - b), p, mean a, mean b]."""
        tests = {}
        for record in self.col.tasks.values():
            for column in significance_columns(record):
                values = [self._per_query(m, column) for m in self.models]
                for i, j in combinations(range(len(self.models)), 2):
                    result = stats.compare(values[i], values[j]) if values[i] and values[j] else None
                    if result:
                        tests[f"{column.key}|{i}|{j}"] = [
                            result["n"], round(result["diff"], 8), round(result["p"], 6),
                            round(result["mean_a"], 8), round(result["mean_b"], 8),
                        ]
        return tests

    def _per_query(self, model: Model, column: Column) -> dict[str, float]:
        entry = model.entries.get(column.task)
        return column.per_query(entry.data["per_query"]) if entry else {}

    def test(self, column: Column, a: int, b: int) -> dict | None:
        """The precomputed test of model a against model b (difference a - b)."""
        if a == b:
            return None
        i, j, sign = (a, b, 1) if a < b else (b, a, -1)
        t = self.tests.get(f"{column.key}|{i}|{j}")
        if t is None:
            return None
        return {"n": t[0], "diff": sign * t[1], "p": t[2], "sig": t[2] < stats.ALPHA}

    def _baseline(self, wanted: str | None) -> int:
        if wanted:
            hits = [i for i, m in enumerate(self.models) if wanted in (m.name, m.label, m.name.split("/")[-1])]
            if not hits:
                raise IfirError(f"--baseline '{wanted}' names no model; models: {', '.join(m.label for m in self.models)}.")
            return hits[0]
        untrained = [i for i, m in enumerate(self.models) if m.card is None]
        return untrained[0] if untrained else 0

    # ---- sections ------------------------------------------------------------------------
    def cell(self, model: Model, column: Column, best: float | None) -> dict:
        entry = model.entries.get(column.task)
        value = self.value(model, column)
        if entry is None or value is None:
            return {"v": None, "text": "", "href": None, "title": "", "best": False}
        title = f"{column.task} {column.label}, from {entry.rel}\ncommand: {entry.command}\ncreated: {entry.created_at}"
        return {"v": value, "text": fmt(value, column.measure), "href": site_href(entry.rel), "title": title,
                "best": best is not None and value >= best - 1e-12}

    def table(self) -> dict:
        columns = self.col.columns
        best = {}
        for c in columns:
            values = [v for m in self.models if (v := self.value(m, c)) is not None]
            best[c.key] = max(values) if len(values) > 1 else None
        avgs = [self.averages(m) for m in self.models]
        best_avg = {}
        for name in ("pmrr", "general"):
            values = [a[name]["value"] for a in avgs if a[name]["value"] is not None]
            best_avg[name] = max(values) if len(values) > 1 else None
        rows = []
        for i, model in enumerate(self.models):
            cells = [self.cell(model, c, best[c.key]) for c in columns]
            averages = []
            for name, measure in (("pmrr", PMRR), ("general", "")):
                a = avgs[i][name]
                if not (self.followir if name == "pmrr" else self.general):
                    continue
                v = a["value"]
                averages.append({
                    "v": v, "text": fmt(v, measure) + ("*" if v is not None and a["n"] < a["of"] else ""),
                    "title": f"mean of {a['n']} of {a['of']} tasks: {', '.join(a['tasks'])}" if v is not None else "no results",
                    "best": v is not None and best_avg[name] is not None and v >= best_avg[name] - 1e-12,
                })
            card = model.card or {}
            data = card.get("data", {}) if isinstance(card.get("data"), dict) else {}
            rows.append({"i": i, "model": model, "cells": cells, "averages": averages,
                         "mix": data.get("mix", ""), "budget": data.get("budget", "")})
        groups = []
        for task, record in self.col.tasks.items():
            n = len(columns_for(record))
            groups.append({"task": task, "kind": record["kind"], "span": n, "record": record})
        avg_headers = []
        if self.followir:
            avg_headers.append({"label": "mean p-MRR", "title": f"mean p-MRR (x100) over FollowIR tasks: {', '.join(self.followir)}"})
        if self.general:
            avg_headers.append({"label": "mean " + "/".join(sorted({self.col.tasks[t].get('main_measure', '') for t in self.general})),
                                "title": f"mean main measure over general tasks: {', '.join(self.general)}"})
        return {"columns": columns, "groups": groups, "rows": rows, "avg_headers": avg_headers}

    def significance_matrices(self) -> list[dict]:
        """Per task, its main measure: model (row) minus model (column), p-value, p < ALPHA marked."""
        if len(self.models) < 2:
            return []
        out = []
        for column in self.main_columns:
            rows = []
            for a in range(len(self.models)):
                cells = []
                for b in range(len(self.models)):
                    t = self.test(column, a, b)
                    if t:
                        t["text"] = fmt(t["diff"], column.measure, diff=True)
                        t["p_text"] = fmt_p(t["p"])
                    cells.append(t)
                rows.append(cells)
            out.append({"column": column, "rows": rows})
        return out

    def comparisons(self) -> list[dict]:
        """Trained models grouped by (base model, revision, data budget), one row per mix, with the
        difference of each mix against the reference mix ("standard" if present) and its p-value."""
        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(self.models):
            card = m.card
            if not card:
                continue
            base, data = card.get("base_model") or {}, card.get("data") or {}
            key = (str(base.get("name", "?")), str(base.get("revision", "?")), data.get("budget"))
            groups.setdefault(key, []).append(i)
        out = []
        for (base_name, base_rev, budget), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _budget_key(kv[0][2]))):
            members.sort(key=lambda i: (mix_rank(self._mix(i)), self.models[i].card.get("seed", 0) if isinstance(self.models[i].card.get("seed"), int) else 0, self.models[i].key))
            ref = members[0]
            rows = []
            base_i = self._base_model(base_name, base_rev)
            listed = ([base_i] if base_i is not None else []) + members
            for i in listed:
                m = self.models[i]
                card = m.card or {}
                data = card.get("data") or {}
                cells = []
                for c in self.main_columns:
                    v = self.value(m, c)
                    entry = m.entries.get(c.task)
                    cell = {"text": fmt(v, c.measure), "href": site_href(entry.rel) if entry and v is not None else None,
                            "title": f"from {entry.rel}\ncommand: {entry.command}" if entry else ""}
                    if i != ref:
                        t = self.test(c, i, ref)
                        if t:
                            cell.update(delta=fmt(t["diff"], c.measure, diff=True), p=fmt_p(t["p"]), sig=t["sig"], n=t["n"])
                    cells.append(cell)
                rows.append({"i": i, "model": m, "cells": cells, "base": i == base_i, "ref": i == ref, "mix": data.get("mix", "(untrained base)" if i == base_i else ""),
                             "n_examples": data.get("n_examples", ""), "seed": card.get("seed", ""),
                             "seconds": card.get("seconds", ""), "eps": card.get("examples_per_second", ""),
                             "llm": _llm_label(card.get("llm")),
                             "command": card.get("command", ""), "loss": _final_loss(card)})
            out.append({"base": base_name, "revision": base_rev, "budget": budget, "rows": rows,
                        "ref_mix": self._mix(ref), "columns": self.main_columns})
        return out

    def _mix(self, i: int) -> str:
        return str((self.models[i].card or {}).get("data", {}).get("mix", ""))

    def _base_model(self, name: str, revision: str) -> int | None:
        """The untrained base model's row, when its results are among the inputs."""
        untrained = [i for i, m in enumerate(self.models) if m.card is None and m.name == name]
        exact = [i for i in untrained if self.models[i].revision == revision]
        return exact[0] if exact else (untrained[0] if len(untrained) == 1 else None)

    def plots(self) -> list[dict]:
        out = []
        points = []
        for m in self.models:
            a = self.averages(m)
            if a["pmrr"]["value"] is None or a["general"]["value"] is None:
                continue
            entry = next(iter(sorted(m.entries.values(), key=lambda e: e.rel)))
            points.append({"label": _short(m), "x": a["general"]["value"], "y": 100 * a["pmrr"]["value"],
                           "href": site_href(entry.rel),
                           "tip": f"{m.label}\nmean p-MRR {100 * a['pmrr']['value']:+.2f} over {', '.join(a['pmrr']['tasks'])}\n"
                                  f"mean {a['general']['measure']} {a['general']['value']:.4f} over {', '.join(a['general']['tasks'])}"})
        if points:
            gm = self.averages(self.models[0])["general"]["measure"]
            out.append({"id": "plot-pmrr-vs-general", "title": f"Instruction following vs general retrieval: mean p-MRR against mean {gm}, one point per model",
                        "svg": Markup(plots.scatter(points, title="mean p-MRR vs general " + gm, x_label=f"mean {gm} (general tasks)",
                                                    y_label="mean p-MRR x100 (FollowIR tasks)", fmt_x=lambda v: f"{v:.2f}", fmt_y=lambda v: f"{v:+g}"))})
        out.extend(self._budget_plots())
        return out

    def _budget_plots(self) -> list[dict]:
        by_base: dict[tuple, dict[str, list]] = {}
        for i, m in enumerate(self.models):
            card = m.card
            if not card:
                continue
            budget = (card.get("data") or {}).get("budget")
            if not isinstance(budget, (int, float)) or isinstance(budget, bool):
                continue
            base = card.get("base_model") or {}
            by_base.setdefault((str(base.get("name", "?")), str(base.get("revision", "?"))), {}).setdefault(self._mix(i), []).append((budget, i))
        out = []
        for (base, _rev), mixes in sorted(by_base.items()):
            for name, measure in (("pmrr", PMRR), ("general", "")):
                series = []
                for mix in sorted(mixes, key=mix_rank):
                    pts = []
                    for budget, i in sorted(mixes[mix], key=lambda bi: (bi[0], bi[1])):
                        v = self.averages(self.models[i])[name]["value"]
                        if v is not None:
                            y = 100 * v if measure == PMRR else v
                            pts.append((budget, y, f"{self.models[i].label}\nmix {mix}, budget {budget}: {fmt(v, measure or 'x')}"))
                    if pts:
                        series.append({"name": mix, "points": pts})
                if not series:
                    continue
                label = "mean p-MRR x100" if name == "pmrr" else "mean " + self.averages(self.models[0])["general"]["measure"]
                title = f"Budget curve, base {base}: {label} against training data budget, one line per mix"
                out.append({"id": f"plot-budget-{name}-{len(out)}", "title": title,
                            "svg": Markup(plots.lines(series, title=title, x_label="data budget (training examples)", y_label=label,
                                                      fmt_x=lambda v: f"{v:g}", fmt_y=lambda v: f"{v:g}"))})
        return out

    def per_query_data(self) -> dict:
        """task::measure -> model index -> {qid: value}, for the per-query and significance views."""
        out = {}
        for record in self.col.tasks.values():
            for column in significance_columns(record):
                per_model = {str(i): {q: round(v, 6) for q, v in sorted(self._per_query(m, column).items())} for i, m in enumerate(self.models)}
                out[column.key] = {k: v for k, v in per_model.items() if v}
        return out

    def client_data(self) -> dict:
        measures = {}
        for task, record in self.col.tasks.items():
            measures[task] = [{"key": c.key, "label": c.label, "pmrr": c.measure == PMRR} for c in significance_columns(record)]
        return {
            "models": [{"label": m.label, "short": _short(m)} for m in self.models],
            "tasks": list(self.col.tasks),
            "measures": measures,
            "tests": self.tests,
            "perQuery": self.per_query_data(),
            "baseline": self.baseline,
            "alpha": stats.ALPHA,
            "nPermutations": stats.N_PERMUTATIONS,
            "seed": stats.SEED,
        }

    def provenance(self) -> list[dict]:
        rows = []
        for e in self.col.entries:
            p = e.data["provenance"]
            rows.append({"rel": e.rel, "href": site_href(e.rel), "run_href": site_href(_run_rel(e)) if e.run_file.is_file() else None,
                         "model": f"{e.model_key[0]}@{e.model_key[1]}", "task": e.task, "command": e.command,
                         "created_at": e.created_at, "git_commit": p.get("git_commit") or "", "device": p.get("device") or "",
                         "version": p.get("ifir_bench_version") or "", "trained": bool(e.data["model"].get("extra", {}).get("training_card"))})
        return rows


def _run_rel(entry) -> str:
    return str(Path(entry.rel).with_name(entry.run_file.name).as_posix())


def _short(m: Model) -> str:
    """A plot label: the name's last part, and a hash revision cut to 8 characters."""
    revision = m.revision.split(":")[-1][:8] if ":" in m.revision else m.revision[:28]
    return f"{m.name.split('/')[-1]}@{revision}"


def _budget_key(budget) -> tuple:
    return (0, float(budget), "") if isinstance(budget, (int, float)) and not isinstance(budget, bool) else (1, 0.0, str(budget))


def _llm_label(llm) -> str:
    """'backend: model' from a training card's `llm` record (empty when absent)."""
    if not isinstance(llm, dict):
        return ""
    return ": ".join(str(llm[k]) for k in ("backend", "model") if llm.get(k))


def _final_loss(card: dict) -> str:
    curve = card.get("loss_curve")
    if isinstance(curve, list) and curve and isinstance(curve[-1], (list, tuple)) and len(curve[-1]) == 2:
        return f"{curve[-1][1]:.4f} (step {curve[-1][0]})"
    return ""


def dumps(data) -> str:
    """Stable JSON; safe inside a <script> element."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/")


def environment() -> Environment:
    env = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["fmt_p"] = fmt_p
    return env


def render(col: Collection, *, baseline: str | None = None) -> str:
    page = Page(col, baseline=baseline)
    dates = sorted(e.created_at for e in col.entries if e.created_at)
    return environment().get_template("index.html.j2").render(
        page=page, table=page.table(), matrices=page.significance_matrices(), comparisons=page.comparisons(),
        plots=page.plots(), provenance=page.provenance(), warnings=col.warnings, as_of=dates[-1] if dates else "",
        client_json=Markup(dumps(page.client_data())), stats=stats, tasks=col.tasks,
    )


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / SITE_MARKER).is_file():
        raise IfirError(f"{out} exists and is not a leaderboard site (no {SITE_MARKER}); give an empty or new --out directory.")
    for name in ("results", "static"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    out.mkdir(parents=True, exist_ok=True)


def build_site(results: Path, out: Path, *, baseline: str | None = None) -> BuildReport:
    """Read every result file under `results`, write the site to `out`; bad files become warnings."""
    results, out = Path(results), Path(out)
    col = collect(results)
    if not col.models:
        raise IfirError(f"{results}: no readable result files" + (f" ({len(col.warnings)} skipped)." if col.warnings else "."))
    html = render(col, baseline=baseline)
    _prepare_out(out)
    for entry in col.entries:
        target = out / "results" / entry.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.path, target)
        if entry.run_file.is_file():
            shutil.copyfile(entry.run_file, out / "results" / _run_rel(entry))
    (out / "static").mkdir()
    for name in STATIC_FILES:
        (out / "static" / name).write_bytes(files("leaderboard").joinpath("static", name).read_bytes())
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve files as they are
    summary = {"results": [e.rel for e in col.entries], "models": [m.label for m in col.models], "tasks": list(col.tasks), "warnings": col.warnings}
    (out / SITE_MARKER).write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return BuildReport(out, len(col.entries), len(col.models), col.warnings)
