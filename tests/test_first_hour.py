"""The first hour of a new user, second pass (issue 21): each item checked through the CLI the way the
user meets it, on the bundled MiniLM and the embedded sample."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from click.testing import CliRunner

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, **env):
    """Run `ifir-bench ARGS` in-process at 80 columns; return click's Result."""
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "HF_HUB_OFFLINE": "1", **env}, catch_exceptions=False)


def test_paper_is_cited_as_mehta_et_al():
    """The paper is Mehta, Zhao, Yu, Zeng, Samdani (2026): the command's help says so, and no text of the
    project calls it 'Zeng et al.' or lists the authors in another order."""
    assert "Mehta et al. 2026" in " ".join(cli("train-dualview", "--help").output.split())
    texts = {p: p.read_text() for p in ROOT.rglob("*") if p.suffix in (".md", ".py", ".toml", ".j2") and ".git" not in p.parts}
    wrong = [str(p) for p, text in texts.items() if p.name != Path(__file__).name and re.search(r"Zeng et al|Zeng, Yu", text)]
    assert wrong == []
    full = "Mehta, Zhao, Yu, Zeng, Samdani 2026, *Dual-View Training for Instruction-Following Information Retrieval*, arXiv 2604.18845"
    for doc in ("README.md", "dualview_trainer/README.md"):
        assert full in " ".join((ROOT / doc).read_text().split()), doc


def test_train_dualview_without_the_train_extra_fails_before_any_work(tmp_path, monkeypatch, shared_data):
    """Without accelerate (the `train` extra), one sentence with the pip command, before synthesis
    writes anything; --stop-after synthesis needs no trainer and is not refused."""
    monkeypatch.setitem(sys.modules, "accelerate", None)  # what an environment without the package sees
    scifact = shared_data / "scifact"
    result = cli("train-dualview", "--source", str(scifact), "--budget", "8", "--out", str(tmp_path / "dv"))
    assert result.exit_code == 2
    assert result.output == "error: Training needs accelerate, which the train extra installs: pip install 'ifir-bench[train]'.\n"
    assert not (tmp_path / "dv").exists()
    result = cli("experiment", "matched-budget", "--source", str(scifact), "--out", str(tmp_path / "mb"))
    assert result.exit_code == 2 and "pip install 'ifir-bench[train]'" in result.output
    readme = (ROOT / "README.md").read_text()
    assert readme.index('pip install -e ".[train]"') < readme.index("ifir-bench train-dualview --source")
