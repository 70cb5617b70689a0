"""Published scores reproduced on the real shared collections, against the conditions of
harness/reproductions.toml (the figures of ../shared/data/README.md: MTEB's results for
all-MiniLM-L6-v2 on SciFact, nDCG@10 0.645 and R@100 0.925), within the condition's tolerance (half a
unit of the last digit published). Encoding 5k abstracts takes a few minutes on 2 CPU cores."""

import pytest

from harness.data.local import load_local
from harness.reproduce import check, load_conditions
from harness.runner import RunOptions, evaluate


@pytest.mark.slow
def test_minilm_scifact_matches_mteb(shared_data, minilm, tmp_path_factory):
    condition = next(c for c in load_conditions() if c.id == "minilm-scifact")
    assert condition.expected == {"nDCG@10": 0.645, "R@100": 0.925}
    task = load_local(shared_data / condition.local)
    result, run = evaluate(minilm, task, RunOptions(cache_dir=tmp_path_factory.mktemp("cache"), show_progress=False))
    checks = check(condition, result["metrics"])
    assert [(k.measure, k.status) for k in checks] == [("nDCG@10", "ok"), ("R@100", "ok")], checks
    assert len(run) == 300 and all(len(docs) == 1000 for docs in run.values())
