"""Reproductions as data: `harness/reproductions.toml` lists conditions (a model, a task, the figures
a source gives, a tolerance); `ifir-bench reproduce` runs them through the ordinary runner (stored
results with the same identity are reused) and reports each figure as ok or off by how much;
`--page` renders the conditions and the latest figures to Markdown. Checking is pure (`check`);
running and rendering are apart from it."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from harness.errors import IfirError
from harness.metrics.pmrr import shown

CONDITIONS_FILE = Path(str(files("harness") / "reproductions.toml"))
KINDS = ("published", "regression")
COSTS = ("seconds", "minutes", "hour", "hub")
_FIELDS = {"id", "kind", "model", "task", "local", "measures", "expected", "tolerance", "cost", "source"}


@dataclass(frozen=True)
class Condition:
    id: str
    kind: str
    model: str
    expected: dict[str, float]
    source: str
    cost: str = "seconds"
    task: str | None = None
    local: str | None = None
    measures: tuple[str, ...] = ()
    tolerance: float | None = None

    def tolerance_for(self, measure: str) -> float:
        """The condition's tolerance, else half a unit of the last digit the source gives."""
        if self.tolerance is not None:
            return self.tolerance
        text = repr(self.expected[measure])
        digits = len(text.split(".")[1]) if "." in text and "e" not in text else 4
        return 0.5 * 10 ** -digits + 1e-12


@dataclass(frozen=True)
class Check:
    condition: str
    measure: str
    expected: float
    got: float | None
    tolerance: float
    note: str = ""

    @property
    def diff(self) -> float | None:
        return None if self.got is None else self.got - self.expected

    @property
    def status(self) -> str:
        if self.got is None:
            return "not run"
        return "ok" if abs(self.got - self.expected) <= self.tolerance else "off"


@dataclass
class Outcome:
    condition: Condition
    checks: list[Check] = field(default_factory=list)
    note: str = ""  # why it was not run, or where its result is

    @property
    def reason(self) -> str | None:
        """Why some of its figures were not checked (None when all were): the condition's note when
        none ran, else the first missing figure's."""
        missing = [k for k in self.checks if k.status == "not run"]
        if not missing:
            return None
        return self.note if len(missing) == len(self.checks) and self.note else missing[0].note


def load_conditions(path: Path = CONDITIONS_FILE) -> list[Condition]:
    """The conditions of `path`, each checked; an error names the file and the condition."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise IfirError(f"{path}: {e}") from None
    except OSError as e:
        raise IfirError(f"{path}: {e.strerror or e}") from None
    out, seen = [], set()
    for n, raw in enumerate(data.get("condition", []), start=1):
        where = f"{path}: condition {n} ({raw.get('id', 'no id')})"
        unknown = set(raw) - _FIELDS
        if unknown:
            raise IfirError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_FIELDS))}).")
        for key in ("id", "kind", "model", "source"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise IfirError(f"{where}: '{key}' must be a non-empty string.")
        if raw["id"] in seen:
            raise IfirError(f"{where}: the id '{raw['id']}' is used twice.")
        seen.add(raw["id"])
        if raw["kind"] not in KINDS:
            raise IfirError(f"{where}: kind '{raw['kind']}' is not one of {', '.join(KINDS)}.")
        if raw.get("cost", "seconds") not in COSTS:
            raise IfirError(f"{where}: cost '{raw['cost']}' is not one of {', '.join(COSTS)}.")
        if not raw.get("task") and not raw.get("local"):
            raise IfirError(f"{where}: give a registered 'task', a 'local' folder, or both.")
        expected = raw.get("expected")
        if not isinstance(expected, dict) or not expected or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in expected.values()):
            raise IfirError(f"{where}: 'expected' must map measures to finite numbers.")
        tolerance = raw.get("tolerance")
        if tolerance is not None and (not isinstance(tolerance, (int, float)) or tolerance < 0):
            raise IfirError(f"{where}: 'tolerance' must be a number >= 0.")
        out.append(Condition(id=raw["id"], kind=raw["kind"], model=raw["model"], source=raw["source"],
                             expected={k: float(v) for k, v in expected.items()}, cost=raw.get("cost", "seconds"),
                             task=raw.get("task"), local=raw.get("local"), measures=tuple(raw.get("measures", ())),
                             tolerance=None if tolerance is None else float(tolerance)))
    if not out:
        raise IfirError(f"{path}: no [[condition]] entries.")
    return out


def figure(metrics: dict, measure: str) -> float | None:
    """A result's figure: `nDCG@10`, or `og/nDCG@5` inside a FollowIR result's og part."""
    part, _, name = measure.partition("/")
    if part in ("og", "changed") and name:
        inner = metrics.get(part)
        value = inner.get(name) if isinstance(inner, dict) else None
    else:
        value = metrics.get(measure)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check(condition: Condition, metrics: dict) -> list[Check]:
    """Each expected figure of `condition` against a result's `metrics`. Pure."""
    checks = []
    for m, v in condition.expected.items():
        got = figure(metrics, m)
        checks.append(Check(condition.id, m, v, got, condition.tolerance_for(m), "" if got is not None else "the result has no such figure"))
    return checks


def task_source(condition: Condition, data: Path | None) -> tuple[str | None, str]:
    """(what to pass as the task, why not when None): the local folder under `data` when it is
    there, else the registered task."""
    if condition.local and data is not None and (Path(data) / condition.local).is_dir():
        return str(Path(data) / condition.local), ""
    if condition.task:
        return condition.task, ""
    return None, f"needs the folder {Path(data or '.') / condition.local}"


def selected(conditions: list[Condition], *, everything: bool, only: list[str]) -> list[Condition]:
    if only:
        known = {c.id for c in conditions}
        missing = [i for i in only if i not in known]
        if missing:
            raise IfirError(f"Unknown reproduction(s) {', '.join(missing)} (known: {', '.join(sorted(known))}).")
        return [c for c in conditions if c.id in only]
    return conditions if everything else [c for c in conditions if c.cost == "seconds"]


def run_condition(condition: Condition, *, data: Path | None, output: Path, cache_dir: Path | None = None,
                  overwrite: bool = False) -> Outcome:
    """Run one condition as `ifir-bench run` would (a stored result of the same identity is reused)."""
    from harness.models import load_model
    from harness.runner import RunOptions, run_and_save
    from harness.tasks import check_task, load_task

    spec, why = task_source(condition, data)
    if spec is None:
        return Outcome(condition, check(condition, {}), why)
    try:
        check_task(spec)
        model = load_model(condition.model)
    except IfirError as e:
        return Outcome(condition, check(condition, {}), str(e))
    task = load_task(spec)
    options = RunOptions(output=output, cache_dir=cache_dir, overwrite=overwrite, show_progress=False,
                         measures=list(condition.measures) or None, command=f"ifir-bench reproduce --only {condition.id}")
    try:
        path, result, status = run_and_save(model, task, options)
    finally:
        getattr(model, "close", lambda: None)()
    return Outcome(condition, check(condition, result["metrics"]), f"{status}: {path}")


def page(conditions: list[Condition], outcomes: dict[str, Outcome], *, stamp: str = "") -> str:
    """The generated Markdown page: every condition with its source and, where it was run, ours.
    `stamp` says when and where it was generated (a date, a commit, the machine)."""
    lines = ["# Reproductions", "",
             "Generated by `ifir-bench reproduce --all --page REPRODUCTIONS.md` from `harness/reproductions.toml`"
             + (f" ({stamp})" if stamp else "") + "; do not edit by hand. p-MRR is shown x100. *published*: a figure "
             "from the source named; *regression*: this project's own recorded figure, kept so that a change that "
             "moves it is seen.", "",
             "| condition | kind | model | task | measure | expected | ours | difference | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    reasons = []
    for c in conditions:
        outcome = outcomes.get(c.id)
        checks = outcome.checks if outcome else check(c, {})
        for k in checks:
            lines.append(f"| {c.id} | {c.kind} | {c.model} | {c.task or c.local} | {k.measure} | {shown(k.expected, k.measure)} "
                         f"| {shown(k.got, k.measure)} | {shown(k.diff, k.measure, diff=True)} | {k.status if outcome else 'not run'} |")
        if outcome is None:
            reasons.append(f"- `{c.id}`: not selected in this run.")
        elif outcome.reason:
            reasons.append(f"- `{c.id}`: {outcome.reason}")
    if reasons:
        lines += ["", "Not run where this page was generated:", "", *reasons]
    lines += ["", "Sources:", ""] + [f"- `{c.id}` ({c.cost}): {c.source}" for c in conditions]
    return "\n".join(lines) + "\n"
