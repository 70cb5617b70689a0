"""`python -m dualview_trainer ...` (for torchrun / accelerate launch): the train-dualview command."""

import sys

from harness.errors import IfirError
from harness.progress import console

from dualview_trainer.cli import train_dualview

try:
    train_dualview.main(prog_name="python -m dualview_trainer")
except IfirError as e:
    console.print(f"[bold red]error:[/] {e}", highlight=False)
    sys.exit(2)
