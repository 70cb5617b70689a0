"""Shared fixtures: offline hub, the real shared data, one bundled MiniLM per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_collection_modifyitems(items):
    """Every test that reads ../shared/data (through the `shared_data` fixture, directly or not) carries
    the `shared_data` marker: `-m "not shared_data"` runs the rest where the collections are absent."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"The shared data folder {SHARED_DATA} is missing: the tests read real collections from it.")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 encoder, loaded once for the whole session."""
    from harness.models import load_model

    return load_model("minilm")


@pytest.fixture()
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"
