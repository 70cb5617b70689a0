"""The first hour of a new user, second pass (issue 21): each item checked through the CLI the way the
user meets it, on the bundled MiniLM and the embedded sample."""

from __future__ import annotations

import re
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
