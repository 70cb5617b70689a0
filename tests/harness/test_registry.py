"""The one registry (harness.registry): duplicates refused, `module:attr` imported only on `get`,
entry points read once and never replacing a built-in, near-match suggestions; and pyproject.toml's
entry points agree with the built-ins kept in code."""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from harness.errors import IfirError
from harness.registry import Registry

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_a_name_is_registered_once_and_the_error_names_both():
    reg = Registry("layout")
    reg.register("mteb", "harness.data.layouts:load_mteb")
    with pytest.raises(ValueError, match=r"layout 'mteb' is already registered as harness.data.layouts:load_mteb; "
                                         r"not replacing it with harness.data.layouts:load_bright"):
        reg.register("mteb", "harness.data.layouts:load_bright")
    assert reg.names() == ["mteb"]


def test_a_module_attr_target_is_imported_on_first_get_only(tmp_path, monkeypatch):
    (tmp_path / "ifir_lazy_probe.py").write_text("class Thing:\n    answer = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ifir_lazy_probe", raising=False)
    reg = Registry("model")
    reg.register("thing", "ifir_lazy_probe:Thing.answer")
    assert "thing" in reg and list(reg) == ["thing"] and reg.target("thing") == "ifir_lazy_probe:Thing.answer"
    assert "ifir_lazy_probe" not in sys.modules
    assert reg.get("thing") == 42
    assert "ifir_lazy_probe" in sys.modules


def test_a_target_that_does_not_import_is_a_user_error():
    reg = Registry("model")
    reg.register("gone", "no_such_module_here:X")
    reg.register("typo", "harness.errors:IfirErorr")
    with pytest.raises(IfirError, match="Cannot import 'no_such_module_here'"):
        reg.get("gone")
    with pytest.raises(IfirError, match="'harness.errors' has no attribute 'IfirErorr'"):
        reg.get("typo")


def test_entry_points_are_read_once_and_add_plugins_after_the_built_ins(monkeypatch):
    calls = []

    def entry_points(group):
        calls.append(group)
        return [EntryPoint("errors", "harness.errors:IfirError", group),
                EntryPoint("where", "harness.errors:where", group)] if group == "ifir_bench.test" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    reg = Registry("thing", "ifir_bench.test")
    reg.register("errors", IfirError)  # the same object an entry point names: one registration, no clash
    assert calls == []  # nothing read until asked
    assert list(reg) == ["errors", "where"] and reg.names() == ["errors", "where"]
    assert reg.get("where")("f.txt", 3) == "f.txt:3" and reg.get("errors") is IfirError
    assert calls == ["ifir_bench.test"]


def test_an_entry_point_never_replaces_a_built_in(monkeypatch):
    """A plugin claiming a built-in's name is refused: asking for that name names both; every other
    name, the plugin's others included, still works."""
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [EntryPoint("bm25", "my_plugin:BetterBM25", group),
                                       EntryPoint("where", "harness.errors:where", group)])
    reg = Registry("model", "ifir_bench.models")
    reg.register("bm25", "baselines.bm25:BM25")
    assert reg.names() == ["bm25", "where"] and reg.get("where")("f.txt", 3) == "f.txt:3"
    with pytest.raises(IfirError, match=r"Entry point 'bm25 = my_plugin:BetterBM25' in group ifir_bench.models "
                                        r"clashes with the model 'bm25' already registered as baselines.bm25:BM25"):
        reg.get("bm25")


def test_a_plugin_command_that_clashes_is_one_warning_and_the_cli_still_starts(monkeypatch):
    import subprocess
    import sys

    code = ("import importlib.metadata as m\n"
            "from importlib.metadata import EntryPoint\n"
            "real = m.entry_points\n"
            "m.entry_points = lambda group=None, **k: [EntryPoint('leaderboard', 'my_plugin:board', group)] "
            "if group == 'ifir_bench.commands' else real(group=group, **k)\n"
            "from harness.cli import main\n"
            "print(sorted(main.commands))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "leaderboard" in res.stdout and "Traceback" not in res.stderr
    assert "clashes with the command 'leaderboard'" in " ".join(res.stderr.split())
    assert "The built-in command is kept." in " ".join(res.stderr.split())


def test_an_unknown_name_suggests_the_nearest():
    reg = Registry("layout")
    for name in ("mteb", "followir-v1", "nanobeir", "bright"):
        reg.register(name, "harness.data.layouts:load_" + name.replace("-", "_"))
    with pytest.raises(IfirError, match=r"Unknown layout 'folowir-v1' \(known: mteb, followir-v1, nanobeir, bright\)\. "
                                        r"Did you mean 'followir-v1'\?"):
        reg.get("folowir-v1")
    with pytest.raises(IfirError) as e:
        reg.get("zzz")
    assert "Did you mean" not in str(e.value)


def test_pyproject_entry_points_are_the_built_ins_in_code(monkeypatch):
    """An editable install made before the entry points were declared still has them; one made after
    declares each twice (code and metadata), which must read as one registration."""
    from harness.cli import COMMANDS
    from harness.models.registry import BUILTIN

    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    assert declared["ifir_bench.models"] == {k: v for k, v in BUILTIN.items() if v.startswith("baselines.")}
    commands = declared["ifir_bench.commands"]
    assert set(commands) == {"train-dualview", "experiment", "leaderboard"}
    assert commands == {name: COMMANDS.target(name) for name in commands}

    # an install that declares them (and a plugin beside them): each is read as the built-in it repeats
    group = "ifir_bench.commands"
    installed = [EntryPoint(n, v, group) for n, v in commands.items()] + [EntryPoint("mine", "harness.cli:main", group)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: installed)
    reg = Registry("command", group)
    for name in COMMANDS:
        reg.register(name, COMMANDS.target(name))
    assert list(reg) == ["train-dualview", "experiment", "leaderboard", "mine"]


def test_an_unknown_scorer_suggests_the_nearest():
    from harness.metrics.family import scorer_named

    with pytest.raises(IfirError, match=r"Task 't': unknown scorer 'nevr' \(known: instructir, nevir, ifir, probe\)\. "
                                        r"Did you mean 'nevir'\?"):
        scorer_named("nevr", "Task 't'")
