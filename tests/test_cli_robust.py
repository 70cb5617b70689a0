"""Bad input fed through the CLI (click's runner at 80 columns): one exact message, exit status 2,
nothing computed before lost (issues 12 and 13)."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from rich.table import Table

from harness.cli import main
from harness.console import console, error, say, warning
from harness.progress import progress
from harness.tasks import sample_dir

TRICKY = ["[x]data", "bm25[k1]", "'ifir-bench[bm25]'", "a[/x]b", "[bold]x[/]", ":smile:"]


def cli(*args, **env):
    """Run `ifir-bench ARGS` in-process at 80 columns; return click's Result."""
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "HF_HUB_OFFLINE": "1", **env}, catch_exceptions=False)


def copy_sample(dst):
    shutil.copytree(sample_dir(), dst)
    return dst


def test_console_prints_every_string_literally(capsys):
    """Markup, emoji codes and closing tags in user text are shown as written, through every helper."""
    for text in TRICKY:
        say(text)
        error(text)
        warning(text)
        with console.status(text):
            pass
        with progress() as bar:
            bar.add_task(text, total=1)
        table = Table(title=text)
        table.add_column(text)
        table.add_row(text)
        console.print(table)
        err = capsys.readouterr().err
        assert err.count(text) >= 6, (text, err)
        assert f"error: {text}\n" in err and f"warning: {text}\n" in err


def test_model_spec_with_brackets_is_echoed_literally(tmp_path):
    result = cli("run", "--model", "bm25[k1]", "--tasks", "sample", "--output", str(tmp_path))
    assert result.exit_code == 2
    assert "error: Unknown model 'bm25[k1]': not a registered name" in result.output
    assert "Did you mean 'bm25'?" in result.output
