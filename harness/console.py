"""The one terminal console: prints every string literally (no rich markup, emoji codes or
highlighting), so square brackets in paths, ids and model specs are shown as written and never raise."""

from __future__ import annotations

import os
import sys
import warnings

from rich.console import Console
from rich.text import Text


class LiteralConsole(Console):
    """A rich Console with markup, emoji and highlighting off, including in `status` lines (whose
    spinner would otherwise parse its text as markup)."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def status(self, status, **kwargs):
        return super().status(Text(status) if isinstance(status, str) else status, **kwargs)


console = LiteralConsole(stderr=True)
"""Progress, status lines, warnings and errors."""
out = LiteralConsole()
"""What a command produces (tables, listings), on stdout so it can be piped."""


def say(message: str) -> None:
    """One line of plain text to the user; never broken by rich (paths stay whole when copied)."""
    console.print(message, soft_wrap=True)


def error(message: str) -> None:
    """`error: <message>`, with only the prefix styled."""
    console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def warning(message: str) -> None:
    """`warning: <message>`, with only the prefix styled."""
    console.print(Text.assemble(("warning:", "yellow"), " ", message), soft_wrap=True)


def quiet_libraries() -> None:
    """One progress display, rich's: transformers', the hub's and other tqdm bars ("Loading weights",
    "Writing model shards") and libraries' FutureWarnings would break into it. The variables are read
    when those libraries are first imported (so this runs first); set them to 0 to see the bars again."""
    for name, value in (("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TQDM_DISABLE", "1"), ("TRANSFORMERS_VERBOSITY", "error")):
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if "transformers" in sys.modules and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1":  # imported before (a test, a notebook)
        from transformers.utils import logging

        logging.disable_progress_bar()
