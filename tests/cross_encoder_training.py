"""A tiny cross-encoder for the reranker tests: what `python -m baselines.cross_encoder_training` builds
(the bundled MiniLM with a fresh one-score head, trained on SciFact's train split), in few short steps.
Trained once per session."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from baselines.cross_encoder_training import train_cross_encoder


@functools.cache
def tiny_cross_encoder(scifact: Path, steps: int = 10, batch: int = 8, max_length: int = 64) -> str:
    """Folder of a MiniLM cross-encoder trained on (claim, cited abstract) vs (claim, random abstract);
    short pairs and few steps keep this to seconds on 2 cores: it tests plumbing, not quality."""
    folder = tempfile.mkdtemp(prefix="ifir-tiny-ce-")
    atexit.register(shutil.rmtree, folder, True)
    return str(train_cross_encoder(scifact, Path(folder), steps=steps, batch=batch, max_length=max_length))
