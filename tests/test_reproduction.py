"""Published scores reproduced on the real shared collections.

all-MiniLM-L6-v2 on SciFact (title + " " + text, cosine), MTEB's published results:
nDCG@10 0.645, R@100 0.925 (../shared/data/README.md). Encoding 5k abstracts takes a few minutes
on 2 CPU cores, so the embeddings are cached for the session.
"""

import pytest

from harness.runner import RunOptions, evaluate
from harness.data.local import load_local


@pytest.mark.slow
def test_minilm_scifact_matches_mteb(shared_data, minilm, tmp_path_factory):
    task = load_local(shared_data / "scifact")
    result, run = evaluate(minilm, task, RunOptions(cache_dir=tmp_path_factory.mktemp("cache"), show_progress=False))
    assert result["metrics"]["nDCG@10"] == pytest.approx(0.645, abs=0.01)
    assert result["metrics"]["R@100"] == pytest.approx(0.925, abs=0.01)
    assert len(run) == 300 and all(len(docs) == 1000 for docs in run.values())
