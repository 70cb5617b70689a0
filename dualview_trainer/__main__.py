"""`python -m dualview_trainer ...` (for torchrun / accelerate launch): the train-dualview command."""

import sys

from harness.console import error
from harness.errors import IfirError

from dualview_trainer.cli import train_dualview

try:
    train_dualview.main(prog_name="python -m dualview_trainer")
except IfirError as e:
    error(str(e))
    sys.exit(2)
